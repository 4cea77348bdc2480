"""What the line says, in Québec French and English.

The texts are the script of the recorded (or synthesised) prompts: ``tools`` turns each
one into ``<sounds>/<language>/211/<name>`` and Asterisk picks the language folder from
``CHANNEL(language)``, so the flow only names a prompt and a language. The closed-menu and
main-menu texts describe the default keys of ``LineSettings``; a centre that changes the
keys records new prompts.

``consent-notice`` is the exception: its text is a line setting
(``LineSettings.research_consent``, Loi 25), so the catalogue holds the default text and
``catalogue_for(settings)`` the one the centre set; the audio tool speaks the latter.

The opening hours are not in any text either: the flow says them with short pieces
(``ivr.hours``: "Nous vous répondons", "tous les jours", "de", "8 heures", ...), one
prompt each, so the hours a caller hears are always the settings'. ``time-am`` and
``time-pm`` are English only, like ``for-english``: French says the hour on the
24-hour clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ivr import hours as h
from ivr.actions import PromptRef
from ivr.settings import Language, LineSettings, ResearchConsent

SOUND_DIR: Final = "211"

_EMERGENCY_NUMBERS_FR: Final = (
    "En cas d'urgence, composez le 9-1-1. "
    "Pour parler à une infirmière d'Info-Santé ou à un intervenant d'Info-Social, "
    "composez le 8-1-1. "
    "Si vous pensez au suicide ou êtes inquiet pour un proche, composez le 1 866 APPELLE, "
    "c'est-à-dire le 1 866 277-3553, ou le 9-8-8. Ces services répondent jour et nuit."
)
_EMERGENCY_NUMBERS_EN: Final = (
    "In an emergency, dial 9-1-1. "
    "To speak with an Info-Santé nurse or an Info-Social worker, dial 8-1-1. "
    "If you are thinking about suicide or are worried about someone, call 1 866 APPELLE, "
    "that is 1 866 277-3553, or dial 9-8-8. These services answer day and night."
)


def _texts(fr: str | None, en: str | None) -> Mapping[Language, str]:
    texts: dict[Language, str] = {}
    if fr is not None:
        texts["fr"] = fr
    if en is not None:
        texts["en"] = en
    return MappingProxyType(texts)


_DAYS_FR: Final = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_DAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A minute is feminine: "15 heures 31" is "quinze heures trente et une".
_MINUTES_FR: Final = {
    1: "une",
    21: "vingt et une",
    31: "trente et une",
    41: "quarante et une",
    51: "cinquante et une",
}


def _hour_fr(hour: int) -> str:
    special = {0: "minuit", 1: "une heure", 12: "midi", 21: "vingt et une heures"}
    return special.get(hour, f"{hour} heures")


def _minute_fr(minute: int) -> str:
    return _MINUTES_FR.get(minute, str(minute))


def _hours_pieces() -> dict[str, Mapping[Language, str]]:
    """The pieces ``ivr.hours.spoken_hours`` composes the opening hours from (its
    docstring shows how they are put together)."""
    pieces: dict[str, Mapping[Language, str]] = {
        h.HOURS_OPEN: _texts("Nous vous répondons", "We answer"),
        h.HOURS_CLOSED: _texts("Nous sommes fermés", "We are closed"),
        h.DAYS_EVERY: _texts("tous les jours", "every day"),
        h.DAYS_EVERY_HOLIDAYS: _texts(
            "tous les jours, jours fériés compris", "every day, holidays included"
        ),
        h.DAYS_HOLIDAYS: _texts("les jours fériés", "on holidays"),
        h.AND: _texts("et", "and"),
        h.TIME_FROM: _texts("de", "from"),
        h.TIME_TO: _texts("à", "to"),
        h.TIME_AM: _texts(None, "a.m."),
        h.TIME_PM: _texts(None, "p.m."),
    }
    for day, (fr, en) in enumerate(zip(_DAYS_FR, _DAYS_EN, strict=True)):
        pieces[h.day_piece(day)] = _texts(f"le {fr}", f"on {en}s")
        pieces[h.from_day_piece(day)] = _texts(f"du {fr}", en)
        pieces[h.to_day_piece(day)] = _texts(f"au {fr}", f"to {en}")
    for hour in range(24):
        pieces[h.hour_piece(hour)] = _texts(_hour_fr(hour), str(hour % 12 or 12))
    for minute in range(1, 60):
        en = f"oh {minute}" if minute < 10 else str(minute)
        pieces[h.minute_piece(minute)] = _texts(_minute_fr(minute), en)
    return pieces


_DEFAULT_CONSENT: Final = ResearchConsent()
CONSENT_PROMPT: Final = "consent-notice"

CATALOGUE: Final[Mapping[str, Mapping[Language, str]]] = MappingProxyType(
    {
        "greeting": _texts(
            "Bonjour, vous êtes bien au 2-1-1, le service gratuit et confidentiel "
            "d'information et de référence de Québec et Chaudière-Appalaches.",
            "Hello, you have reached 2-1-1, the free and confidential information "
            "and referral service for the Québec City and Chaudière-Appalaches regions.",
        ),
        # The one prompt a caller cannot interrupt (ivr.flow): a few seconds.
        "emergency-notice": _texts(
            "Si une vie est en danger, raccrochez et composez le 9-1-1.",
            "If a life is in danger, hang up and dial 9-1-1.",
        ),
        "language-menu": _texts(
            "Pour le service en français, faites le 1. Pour une autre langue, faites le 3.",
            "For service in English, press 2. For another language, press 3.",
        ),
        "main-menu": _texts(
            "Pour parler à un navigateur ou à une navigatrice, faites le 1. "
            "Pour laisser un message au projet de recherche sur les soins à domicile, "
            "faites le 2.",
            "To speak with a navigator, press 1. "
            "To leave a message for the home-care research project, press 2.",
        ),
        "invalid-key": _texts(
            "Désolé, ce choix n'est pas valide. Essayons de nouveau.",
            "Sorry, that is not a valid choice. Let's try again.",
        ),
        # closed-hours and closed-holiday are followed by the hours of the settings
        # (ivr.hours); closed-exceptional is not.
        "closed-hours": _texts(
            "Nous sommes présentement fermés.",
            "We are closed right now.",
        ),
        "closed-holiday": _texts(
            "C'est aujourd'hui un jour férié et nous sommes présentement fermés.",
            "Today is a holiday and we are closed right now.",
        ),
        "closed-exceptional": _texts(
            "Le 2-1-1 est exceptionnellement fermé en ce moment. "
            "Nous sommes désolés de ce contretemps.",
            "2-1-1 is closed right now for exceptional reasons. "
            "We are sorry for the inconvenience.",
        ),
        **_hours_pieces(),
        "emergency-numbers": _texts(_EMERGENCY_NUMBERS_FR, _EMERGENCY_NUMBERS_EN),
        "closed-menu": _texts(
            "Pour être transféré à Info-Santé ou Info-Social, faites le 1. "
            "Pour le Centre de prévention du suicide, faites le 2. "
            "Pour laisser un message au projet de recherche sur les soins à domicile, "
            "faites le 3.",
            "To be transferred to Info-Santé or Info-Social, press 1. "
            "For the suicide prevention centre, press 2. "
            "To leave a message for the home-care research project, press 3.",
        ),
        "for-english": _texts(None, "For English, press 9."),
        "interpreter-hold": _texts(
            "Merci de rester en ligne. Un navigateur ou une navigatrice vous répondra "
            "avec l'aide d'un interprète.",
            "Please stay on the line. A navigator will answer you with the help of an interpreter.",
        ),
        "transferring": _texts(
            "Un instant, nous transférons votre appel.",
            "One moment, we are transferring your call.",
        ),
        "to-navigator": _texts(
            "Merci. Nous vous mettons en lien avec un navigateur ou une navigatrice. "
            "Restez en ligne.",
            "Thank you. We are connecting you with a navigator. Please stay on the line.",
        ),
        "research-intro": _texts(
            "Vous êtes dans la boîte vocale du projet de recherche sur les soins à domicile "
            "du CHU de Québec - Université Laval, pour les personnes qui attendent un "
            "médecin de famille et ont besoin d'un suivi médical à la maison.",
            "This is the voicemail box of the home-care research project of the "
            "CHU de Québec - Université Laval, for people waiting for a family doctor "
            "who need medical follow-up at home.",
        ),
        "consent-notice": _texts(_DEFAULT_CONSENT.text("fr"), _DEFAULT_CONSENT.text("en")),
        "callback-request": _texts(
            "Votre numéro de téléphone ne nous est pas transmis. Pour qu'on puisse vous "
            "rappeler, entrez votre numéro à 10 chiffres, suivi du carré. "
            "Pour continuer sans laisser de numéro, faites l'étoile.",
            "Your phone number was not passed on to us. So that we can call you back, "
            "enter your 10-digit number, followed by the pound key. "
            "To go on without leaving a number, press star.",
        ),
        "callback-invalid": _texts(
            "Désolé, ce numéro n'est pas valide. Il faut 10 chiffres, en commençant par "
            "l'indicatif régional.",
            "Sorry, that number is not valid. It needs 10 digits, starting with the area code.",
        ),
        "callback-you-entered": _texts(
            "Vous avez entré le numéro :",
            "You entered the number:",
        ),
        "callback-confirm": _texts(
            "Si c'est le bon numéro, faites le 1. Pour l'entrer de nouveau, faites le 2.",
            "If this is the right number, press 1. To enter it again, press 2.",
        ),
        "callback-none": _texts(
            "Nous prendrons votre message sans numéro de rappel. "
            "Dites votre numéro de téléphone dans votre message.",
            "We will take your message without a callback number. "
            "Please say your phone number in your message.",
        ),
        "research-record": _texts(
            "Après le bip, laissez votre nom, votre numéro de téléphone et la raison de "
            "votre appel. Quand vous avez terminé, faites le carré : vous pourrez écouter "
            "votre message, le réenregistrer ou le confirmer.",
            "After the beep, leave your name, your phone number and the reason for your "
            "call. When you are done, press pound: you can then listen to your message, "
            "record it again or confirm it.",
        ),
        # The review of the message on Twilio (twilio_line.review), with app_voicemail's
        # keys; Asterisk's VoiceMail plays its own vm-review.
        "research-review": _texts(
            "Pour confirmer votre message, faites le 1. Pour l'écouter, faites le 2. "
            "Pour le réenregistrer, faites le 3.",
            "To confirm your message, press 1. To listen to it, press 2. "
            "To record it again, press 3.",
        ),
        "research-thanks": _texts(
            "Merci, votre message a été transmis à l'équipe de recherche du CHU de Québec. "
            "Au revoir.",
            "Thank you, your message was passed on to the CHU de Québec research team. Goodbye.",
        ),
        "goodbye": _texts(
            "Merci d'avoir appelé le 2-1-1. Au revoir.",
            "Thank you for calling 2-1-1. Goodbye.",
        ),
        "queue-reminder": _texts(
            "Merci de patienter, une personne vous répondra dès que possible. "
            "Si vous êtes en danger, raccrochez et composez le 9-1-1.",
            "Thank you for waiting, someone will answer you as soon as possible. "
            "If you are in danger, hang up and dial 9-1-1.",
        ),
        "queue-unavailable": _texts(
            "Désolé, personne n'est disponible pour vous répondre en ce moment.",
            "Sorry, no one is available to answer you right now.",
        ),
        "transfer-failed": _texts(
            "Désolé, le transfert n'a pas pu être fait.",
            "Sorry, we could not transfer your call.",
        ),
        "fallback-closed": _texts(
            "Vous êtes bien au 2-1-1. Nous sommes présentement fermés. "
            + _EMERGENCY_NUMBERS_FR
            + " Merci de rappeler pendant nos heures d'ouverture.",
            "You have reached 2-1-1. We are closed right now. "
            + _EMERGENCY_NUMBERS_EN
            + " Please call back during our opening hours.",
        ),
        # The dialplan's fallback (no FastAGI) plays it first, in French then in English.
        "fallback-notice": _texts(
            "Ici le 2-1-1. En cas de danger, raccrochez et composez le 9-1-1.",
            "This is 2-1-1. If you are in danger, hang up and dial 9-1-1.",
        ),
    }
)


def sound_file(name: str) -> str:
    """What STREAM FILE / Playback is given, e.g. ``211/greeting`` (no extension, no
    language: Asterisk looks in ``sounds/<CHANNEL(language)>/211/`` first)."""
    return f"{SOUND_DIR}/{name}"


def catalogue_for(settings: LineSettings) -> Mapping[str, Mapping[Language, str]]:
    """The catalogue with the centre's own consent notice (``research_consent``)."""
    return MappingProxyType({**CATALOGUE, CONSENT_PROMPT: _consent_texts(settings)})


def _consent_texts(settings: LineSettings) -> Mapping[Language, str]:
    consent = settings.research_consent
    return _texts(consent.text("fr"), consent.text("en"))


def prompt_text(ref: PromptRef, settings: LineSettings | None = None) -> str:
    """The spoken text of one prompt, for the simulator, Twilio ``<Say>`` and the TTS tool
    (with ``settings``, the consent notice is the centre's own text)."""
    # The centre's settings change the consent notice only (``catalogue_for``): the
    # other texts are read from ``CATALOGUE`` without building that copy on each prompt.
    if settings is not None and ref.name == CONSENT_PROMPT:
        texts: Mapping[Language, str] | None = _consent_texts(settings)
    else:
        texts = CATALOGUE.get(ref.name)
    if texts is None:
        raise KeyError(f"no prompt named {ref.name!r} in the catalogue")
    text = texts.get(ref.language)
    if text is None:
        have = ", ".join(sorted(texts)) or "none"
        raise KeyError(f"prompt {ref.name!r} has no {ref.language!r} text (only: {have})")
    return text
