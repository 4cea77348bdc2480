"""What the navigator's console shows and says: the view of the page (presence on
Asterisk and on Twilio, the current call, whether the listener and the Twilio back end's
runner can act, the destinations' buttons) and the results of the commands in plain
words. The routes that act are in ``dashboard.console``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from dashboard import db
from dashboard.callpath import path_in_words
from dashboard.i18n import current_language
from store import commands, live, navigators, twilio_presence
from store.heartbeats import get_heartbeat
from store.models import Navigator
from store.twilio_calls import call_by_sid
from store.twilio_conferences import conference_of_navigator, waiting_callers

__all__ = [
    "ERRORS",
    "ConsoleView",
    "DestinationButton",
    "TwilioCallView",
    "current_view",
    "describe",
    "destinations",
    "phone_label",
    "presence_texts",
]

# ---- what the page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class DestinationButton:
    key: str
    label: str
    emergency: bool
    has_number: bool = True

    @property
    def button_label(self) -> str:
        """The label, and a word when the number is still to fill in (a transfer there is
        refused: nothing can be dialled)."""
        if self.has_number:
            return self.label
        return f"{self.label} ({_('numéro à inscrire')})"


def phone_label(endpoint: str) -> str:
    """``PJSIP/201`` -> ``201``; ``Local/nav-alice@navigators`` -> ``nav-alice``: the
    navigator's phone as they know it, without the channel technology and the dialplan
    context."""
    return endpoint.split("/", 1)[-1].split("@", 1)[0]


@dataclass(frozen=True)
class TwilioCallView:
    """The navigator's call on the Twilio back end (a conference with the caller)."""

    caller_sid: str
    caller_number: str | None
    consult_state: str | None
    mode: str | None

    @property
    def consulting(self) -> bool:
        return self.consult_state in ("ringing", "answered")

    @property
    def can_complete(self) -> bool:
        return self.consult_state == "answered" and self.mode == commands.ATTENDED


@dataclass(frozen=True)
class ConsoleView:
    now: datetime
    navigator: Navigator | None
    listener_up: bool
    listener_text: str
    live_known: bool
    presence: live.LiveMember | None
    destinations: tuple[DestinationButton, ...]
    twilio: bool = False
    twilio_call: TwilioCallView | None = None
    #: Callers waiting for a navigator on the Twilio line.
    twilio_waiting: int = 0
    #: The Twilio back end's runner is alive (its heartbeat is fresh), and why not.
    twilio_up: bool = False
    twilio_text: str = ""
    #: The navigator's presence on the Twilio line (None: logged out of it).
    twilio_presence: live.LiveMember | None = None

    @property
    def on_twilio(self) -> bool:
        """The Twilio back end can call this navigator: their presence counts there."""
        return self.twilio and self.navigator is not None and bool(self.navigator.twilio_address)

    @property
    def can_change_presence(self) -> bool:
        return self.navigator is not None and (self.listener_up or self.on_twilio)

    def take_refusal(self) -> str:
        """Why this navigator may not take the next caller now ("" when they may)."""
        if self.navigator is not None and not self.navigator.twilio_address:
            return str(ERRORS["no_twilio_address"])
        if not self.twilio_up:
            return self.twilio_text
        if self.twilio_presence is None:
            return str(_("Connectez-vous à la file avant de prendre un appel."))
        if self.twilio_presence.paused:
            return str(_("Vous êtes en pause : reprenez avant de prendre un appel."))
        return ""

    @property
    def phone(self) -> str:
        return "" if self.navigator is None else phone_label(self.navigator.phone_endpoint)

    @property
    def can_take(self) -> bool:
        """The Twilio back end can call this navigator and they are on no Twilio call."""
        return self.on_twilio and self.twilio_call is None and not self.take_refusal()

    @property
    def can_act(self) -> bool:
        """The call's actions can be sent: to Twilio's runner on a Twilio call, else to
        the listener."""
        if self.navigator is None:
            return False
        return self.twilio_up if self.twilio_call is not None else self.listener_up

    @property
    def consulting(self) -> bool:
        """A transfer under way, on either back end (the cancel button)."""
        if self.twilio_call is not None:
            return self.twilio_call.consulting
        return self.call is not None and self.call.consulting

    @property
    def call(self) -> live.LiveCall | None:
        return self.presence.call if self.presence is not None else None

    @property
    def on_call(self) -> bool:
        return self.twilio_call is not None or (self.presence is not None and self.presence.on_call)

    def call_path_text(self) -> str:
        """The current call's path in words ("Ouvert · français · navigateur")."""
        call = self.call
        names = {d.key: d.label for d in self.destinations}
        return path_in_words(call.path if call is not None else None, names)

    def presence_text(self) -> str:
        if not self.live_known:
            return str(_("inconnue"))
        if self.presence is None:
            return str(_("Déconnecté de la file"))
        if self.presence.on_call:
            return str(_("En appel"))
        if self.presence.paused:
            return str(_("En pause"))
        return str(_("Disponible"))


def destinations() -> tuple[DestinationButton, ...]:
    """The directory's destinations, emergency services first, in the directory's order."""
    english = current_language() == "en"
    settings = db.line_settings()
    found = [
        DestinationButton(
            d.key,
            d.label_en if english else d.label_fr,
            d.kind == "emergency",
            d.number_for(settings.territory) is not None,
        )
        for d in settings.destinations
    ]
    return tuple(sorted(found, key=lambda d: not d.emergency))


def _navigator() -> Navigator | None:
    nav_id = getattr(current_user, "navigator_id", None)
    if nav_id is None:
        return None
    return navigators.navigator_by_id(db.read_session(), nav_id)


def _listener(now: datetime, twilio: bool) -> tuple[bool, str]:
    """Whether the listener can act, and the sentence that says why not; on a line with
    Twilio, a listener that never ran is not expected (a centre on Twilio only: no
    sentence), and one that stopped leaves the Twilio actions possible."""
    status = navigators.get_status(db.read_session())
    if status is None and twilio:
        return False, ""
    down = status is None or status.stale(now, db.options().heartbeat_stale_s)
    if twilio and (down or status is None or status.state != "connected"):
        return False, _(
            "Le lien avec le système téléphonique ne répond pas : seuls les appels de la "
            "ligne Twilio peuvent être pris et transférés."
        )
    if status is None:
        return False, _(
            "Le lien avec le système téléphonique n'a jamais été établi : aucune action "
            "n'est possible."
        )
    if status.stale(now, db.options().heartbeat_stale_s):
        return False, _(
            "Le lien avec le système téléphonique ne donne plus signe de vie : aucune "
            "action n'est possible."
        )
    if status.state != "connected":
        return False, _(
            "Le lien avec le système téléphonique est coupé : aucune action n'est possible."
        )
    return True, _("Lien avec le système téléphonique établi.")


def _twilio_runner(now: datetime) -> tuple[bool, str]:
    """Whether the Twilio back end's runner is alive (its heartbeat is fresh)."""
    beat = get_heartbeat(db.read_session(), twilio_presence.RUNNER_HEARTBEAT)
    stale = db.options().heartbeat_stale_s
    if beat is not None and (now - beat.heartbeat_at).total_seconds() <= stale:
        return True, ""
    return False, _(
        "La ligne Twilio ne répond pas : vous ne pouvez ni prendre un appel, ni transférer, "
        "ni noter une référence pour le moment."
    )


def current_view() -> ConsoleView:
    now = db.now()
    session = db.read_session()
    navigator = _navigator()
    twilio = db.options().twilio_enabled
    up, text = _listener(now, twilio)
    stale = db.options().heartbeat_stale_s
    view = live.read_live(session, now=now, stale_after_s=stale)
    presence = live.presence_for(session, navigator) if navigator and view.known else None
    on_twilio = twilio and navigator is not None and bool(navigator.twilio_address)
    twilio_up, twilio_text = _twilio_runner(now) if twilio else (False, "")
    mine = live.twilio_presence_for(session, navigator) if on_twilio and navigator else None
    if presence is None or (mine is not None and mine.on_call and not presence.on_call):
        presence = mine or presence
    return ConsoleView(
        now,
        navigator,
        up,
        text,
        view.known or on_twilio,
        presence,
        destinations(),
        twilio=twilio,
        twilio_call=_twilio_call(navigator) if twilio else None,
        twilio_waiting=waiting_callers(session) if twilio else 0,
        twilio_up=twilio_up,
        twilio_text=twilio_text,
        twilio_presence=mine,
    )


def _twilio_call(navigator: Navigator | None) -> TwilioCallView | None:
    if navigator is None:
        return None
    session = db.read_session()
    row = conference_of_navigator(session, navigator.username)
    if row is None:
        return None
    caller = call_by_sid(session, row.caller_sid)
    return TwilioCallView(
        row.caller_sid,
        None if caller is None else caller.caller_number,
        row.consult_state,
        row.mode,
    )


# ---- results in plain words -----------------------------------------------------------

ERRORS: dict[str, Any] = {
    "no_such_channel": _l(
        "Aucun appel en cours sur votre poste (ou l'appel vient de se terminer)."
    ),
    "unknown_destination": _l("Cette destination n'est pas dans l'annuaire."),
    "not_permitted": _l("Le système téléphonique n'autorise pas cette action au tableau de bord."),
    "link_down": _l("Le lien avec le système téléphonique est coupé : rien n'a été fait."),
    "timeout": _l("Le système téléphonique n'a pas confirmé l'action à temps."),
    "transfer_not_available": _l(
        "Cet appel ne peut pas être transféré depuis la console : transférez-le avec le téléphone."
    ),
    "rejected": _l("Le système téléphonique a refusé l'action."),
    "no_consultation": _l(
        "Aucun transfert en cours sur cet appel : rien n'a été envoyé (l'appelant "
        "aurait entendu les touches d'annulation)."
    ),
    "internal": _l("Erreur inattendue du lien avec le système téléphonique."),
    "no_twilio_address": _l(
        "Aucun numéro de téléphone ni adresse SIP n'est inscrit pour vous joindre par "
        "Twilio : demandez à un administrateur de l'inscrire."
    ),
    "queue_empty": _l("Personne n'attend dans la file."),
    "busy": _l("Vous êtes déjà en appel, ou un transfert est déjà en cours."),
    "taken": _l("Un autre navigateur vient de prendre cet appel."),
}


def presence_texts() -> dict[str, str]:
    return {
        commands.QUEUE_LOGIN: _("Vous êtes connecté à la file d'attente."),
        commands.QUEUE_PAUSE: _("Vous êtes en pause."),
        commands.QUEUE_UNPAUSE: _("Vous êtes de retour de pause."),
        commands.QUEUE_LOGOUT: _("Vous êtes déconnecté de la file d'attente."),
    }


def _destination_label(key: str | None) -> str:
    if not key:
        return ""
    for dest in destinations():
        if dest.key == key:
            return dest.label
    return key


#: The Twilio commands said as their Asterisk counterparts are.
_AS_ASTERISK = {
    commands.TWILIO_TRANSFER: commands.TRANSFER,
    commands.TWILIO_CANCEL: commands.CANCEL,
    commands.TWILIO_REFERRAL: commands.REFERRAL,
}


def describe(command: commands.Command, now: datetime) -> tuple[str, str]:
    """(state, text): pending / ok / error / expired and what happened, for the navigator."""
    status = command.status
    if status == commands.PENDING and now >= command.expires_at:
        status = commands.EXPIRED
    args = command.args
    dest = _destination_label(args.get("destination"))
    if status in (commands.PENDING, commands.RUNNING):
        return "pending", _("En cours…")
    if status == commands.EXPIRED:
        return "expired", _(
            "Le lien avec le système téléphonique n'a pas pris la demande à temps : rien n'a "
            "été fait. Réessayez."
        )
    result = command.result or {}
    if status == commands.ERROR:
        if result.get("code") == "no_number":
            return "error", _(
                "Aucun numéro n'est encore inscrit pour %(dest)s : rien n'a été composé et "
                "l'appelant est toujours avec vous. La tentative est notée. Donnez-lui le "
                "numéro si vous le connaissez, et demandez à un administrateur de l'inscrire.",
                dest=dest,
            )
        text = ERRORS.get(str(result.get("code", "")), _l("L'action a échoué."))
        return "error", str(text)
    kind, mode = _AS_ASTERISK.get(command.kind, command.kind), args.get("mode", commands.ATTENDED)
    texts = {
        **presence_texts(),
        commands.CANCEL: _("Transfert annulé : vous êtes de retour avec l'appelant."),
        commands.TWILIO_TAKE: _("Votre téléphone sonne : l'appelant vous rejoint."),
        commands.TWILIO_COMPLETE: _("L'appelant est avec le service; vous avez quitté l'appel."),
    }
    if kind == commands.TRANSFER and mode == commands.BLIND:
        return "ok", _("Appel transféré à %(dest)s.", dest=dest)
    if kind == commands.TRANSFER and mode == commands.THREE_WAY:
        return "ok", _("Conférence à trois avec %(dest)s.", dest=dest)
    if kind == commands.TRANSFER:
        return "ok", _("Appel de %(dest)s en cours; l'appelant est en attente.", dest=dest)
    if kind == commands.REFERRAL:
        if "already" in str(result.get("message", "")):
            return "ok", _("Cette référence à %(dest)s était déjà notée.", dest=dest)
        return "ok", _("Référence sans transfert à %(dest)s notée.", dest=dest)
    return "ok", texts.get(kind, _("Fait."))
