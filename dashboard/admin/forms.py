"""The admin pages' forms (Flask-WTF: CSRF on every POST).

Each form checks the shape of its fields with a French message; the store's change
functions check what they mean (unknown destination, duplicate code...). The few checks
that need the line's time zone are methods the views call once the fields are valid
(``ClosureForm.read_span``, ``OverrideForm.read_until``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ivr import settings as s
from store import models

DAYS: tuple[str, ...] = (*models.DAY_NAMES, models.HOLIDAY_DAY)
KIND_CHOICES = [("emergency", _l("Urgence")), ("partner", _l("Programme partenaire"))]
MENU_KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")
RESEARCH_CHOICE = "@research"


def choices(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


SLUG = Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Lettres minuscules, chiffres et tirets."))
NUMBER = Regexp(
    r"^\+?[0-9 ().-]{3,30}$",
    message=_l("Un numéro composable : chiffres, espaces, tirets, + au début."),
)
ENDPOINT = Regexp(
    r"^[A-Za-z0-9]+/[^\s;]+$", message=_l("Technologie et ressource, p. ex. PJSIP/nav-alice.")
)


# ---- fields and checks that speak the page's language ------------------------------------
# WTForms' own messages ("Not a valid time value.", "'x' is not a valid choice for this
# field.", "Field cannot be longer than 200 characters.") are terse, say nothing of the
# form expected, and echo what was typed whole: each field here says what it expects in
# a sentence of this catalogue instead.


class DayField(DateField):  # type: ignore[misc]
    """A date; one that does not read as a date is refused in the page's language."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Une date au format AAAA-MM-JJ, par exemple 2026-06-24.")) from None


class HourField(TimeField):  # type: ignore[misc]
    """A time of day (HH:MM, 24-hour clock), refused in the page's language."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(
                _("Une heure au format HH:MM (de 00:00 à 23:59), par exemple 08:30.")
            ) from None


class WholeNumberField(IntegerField):  # type: ignore[misc]
    """A whole number, refused in the page's language."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Un nombre entier, sans virgule ni lettre.")) from None


def _offered_only(check: Callable[[FlaskForm], None], form: FlaskForm, message: str) -> None:
    """WTForms' check that the choice is one the page offered (``check``), said in a
    sentence that does not repeat what was sent (it may be anything, of any length)."""
    try:
        check(form)
    except (ValidationError, ValueError):
        raise ValidationError(message) from None


class ChoiceField(SelectField):  # type: ignore[misc]
    def pre_validate(self, form: FlaskForm) -> None:
        _offered_only(super().pre_validate, form, _("Choisissez une des options de la liste."))


class RadioChoiceField(RadioField):  # type: ignore[misc]
    def pre_validate(self, form: FlaskForm) -> None:
        _offered_only(super().pre_validate, form, _("Choisissez une des options proposées."))


def at_most(n: int) -> Length:
    """At most ``n`` characters, said with how many were typed."""
    return Length(max=n, message=_l("Au plus %(max)d caractères (il y en a %(length)d)."))


#: A hidden field a page fills itself: wrong only when the form was altered or is stale.
STALE = _l("Le formulaire est incomplet : rechargez la page et recommencez.")


class CsrfOnlyForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only the CSRF token."""


class HoursForm(FlaskForm):  # type: ignore[misc]
    """One row per weekday and one for holidays, built below (``<day>_opens`` ...)."""

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        for day in DAYS:
            closed = self[f"{day}_closed"].data
            opens, closes = self[f"{day}_opens"], self[f"{day}_closes"]
            if closed:
                continue
            if opens.data is None or closes.data is None:
                target = opens if opens.data is None else closes
                target.errors = [*target.errors, _("Indiquez l'heure ou cochez « fermé ».")]
                ok = False
            elif closes.data <= opens.data:
                closes.errors = [
                    *closes.errors,
                    _("L'heure de fermeture doit suivre l'heure d'ouverture."),
                ]
                ok = False
        return ok

    def hours(self, day: str) -> s.DayHours | None:
        if self[f"{day}_closed"].data:
            return None
        return s.DayHours(self[f"{day}_opens"].data, self[f"{day}_closes"].data)


for _day in DAYS:
    setattr(HoursForm, f"{_day}_opens", HourField(_l("Ouverture"), validators=[Optional()]))
    setattr(HoursForm, f"{_day}_closes", HourField(_l("Fermeture"), validators=[Optional()]))
    setattr(HoursForm, f"{_day}_closed", BooleanField(_l("Fermé toute la journée")))


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        _offered_only(super().pre_validate, form, _("Cochez seulement des cases de la liste."))


class HolidayRulesForm(FlaskForm):  # type: ignore[misc]
    categories = MultiCheckboxField(
        _l("Catégories"),
        validators=[InputRequired(message=_l("Choisissez au moins une catégorie."))],
    )
    subdivision = ChoiceField(_l("Province ou territoire"), default="", validate_choice=True)


class HolidayAddForm(FlaskForm):  # type: ignore[misc]
    day = DayField(_l("Date"), validators=[InputRequired(message=_l("Indiquez une date."))])
    name = StringField(
        _l("Nom"),
        validators=[InputRequired(message=_l("Donnez un nom au jour férié.")), at_most(200)],
    )


class HolidayDayForm(FlaskForm):  # type: ignore[misc]
    day = DayField(_l("Date"), validators=[InputRequired(message=_l("Indiquez une date."))])


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant of a wall-clock time in the line's zone; a time skipped by the spring
    DST change does not exist and is refused rather than silently moved."""
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        when = f"{day} {wall:%H:%M}"
        raise ValidationError(_("%(when)s n'existe pas (changement d'heure).", when=when))
    return aware


class ClosureForm(FlaskForm):  # type: ignore[misc]
    start_day = DayField(_l("Début (date)"), validators=[InputRequired(_l("Indiquez une date."))])
    start_time = HourField(
        _l("Début (heure)"), validators=[InputRequired(_l("Indiquez une heure."))]
    )
    end_day = DayField(_l("Fin (date)"), validators=[InputRequired(_l("Indiquez une date."))])
    end_time = HourField(_l("Fin (heure)"), validators=[InputRequired(_l("Indiquez une heure."))])
    reason = StringField(
        _l("Motif"),
        validators=[InputRequired(_l("Indiquez le motif (tempête, réunion...).")), at_most(500)],
    )

    #: The closure's span, set by ``read_span``.
    starts: datetime
    ends: datetime

    def read_span(self, zone: ZoneInfo) -> bool:
        """The valid fields as two instants in the line's zone (``starts``, ``ends``);
        False, with the complaint on a field, when they are not a span."""
        try:
            self.starts = local_instant(self.start_day.data, self.start_time.data, zone)
        except ValidationError as exc:
            self.start_time.errors = [*self.start_time.errors, str(exc)]
            return False
        try:
            self.ends = local_instant(self.end_day.data, self.end_time.data, zone)
        except ValidationError as exc:
            self.end_time.errors = [*self.end_time.errors, str(exc)]
            return False
        if self.ends <= self.starts:
            self.end_time.errors = [*self.end_time.errors, _("La fin doit suivre le début.")]
            return False
        return True


class LineNowForm(FlaskForm):  # type: ignore[misc]
    """The state card's one click: close the line now, or reopen it (hidden ``action``)."""

    action = HiddenField(
        validators=[InputRequired(STALE), AnyOf(("close", "reopen"), message=STALE)]
    )
    reason = StringField(_l("Motif (facultatif)"), validators=[Optional(), at_most(500)])
    exceptional = BooleanField()


class OverrideForm(FlaskForm):  # type: ignore[misc]
    # A forced closure is the night switch unless it is exceptional: callers hear the
    # opening hours, or that the line is exceptionally closed.
    mode = RadioChoiceField(
        _l("Forcer la ligne"),
        choices=choices(
            [
                ("open", _l("ouverte")),
                ("closed", _l("fermée, comme la nuit : on annonce les heures d'ouverture")),
                (
                    "exceptional",
                    _l("fermée exceptionnellement (tempête, panne) : on l'annonce ainsi"),
                ),
            ]
        ),
        validators=[InputRequired(_l("Choisissez ouverte ou fermée."))],
    )
    until_day = DayField(_l("Jusqu'au (date)"), validators=[Optional()])
    until_time = HourField(_l("Jusqu'à (heure)"), validators=[Optional()])
    reason = StringField(_l("Motif"), validators=[Optional(), at_most(500)])

    #: The end of the override (None: until changed), set by ``read_until``.
    until: datetime | None = None

    def read_until(self, zone: ZoneInfo) -> bool:
        """The valid fields' end as an instant in the line's zone (``until``); False, with
        the complaint on a field, when only half of it is given or it does not exist."""
        day, wall = self.until_day.data, self.until_time.data
        if day is None and wall is None:
            self.until = None
            return True
        if day is None or wall is None:
            field = self.until_day if day is None else self.until_time
            field.errors = [
                *field.errors,
                _("Indiquez la date et l'heure, ou ni l'une ni l'autre."),
            ]
            return False
        try:
            self.until = local_instant(day, wall, zone)
        except ValidationError as exc:
            self.until_time.errors = [*self.until_time.errors, str(exc)]
            return False
        return True

    @property
    def override_mode(self) -> s.OverrideMode:
        """Open or closed (an exceptional closure is closed, see ``exceptional``)."""
        return "open" if self.mode.data == "open" else "closed"

    @property
    def exceptional(self) -> bool:
        return bool(self.mode.data == "exceptional")


class DestinationEditForm(FlaskForm):  # type: ignore[misc]
    label_fr = StringField(
        _l("Nom (français)"), validators=[InputRequired(_l("Obligatoire.")), at_most(200)]
    )
    label_en = StringField(
        _l("Nom (anglais)"), validators=[InputRequired(_l("Obligatoire.")), at_most(200)]
    )
    kind = ChoiceField(_l("Type"), choices=choices(KIND_CHOICES))
    report_group = StringField(
        _l("Ligne du rapport annuel"),
        validators=[InputRequired(_l("Obligatoire.")), at_most(40), SLUG],
    )
    short_code = StringField(
        _l("Code court (navigator-transfers)"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Regexp(r"^[0-9]{1,16}$", message=_l("De 1 à 16 chiffres.")),
        ],
    )
    active = BooleanField(_l("Active"))


class DestinationAddForm(DestinationEditForm):
    key = StringField(
        _l("Clé (identifiant permanent)"),
        validators=[InputRequired(_l("Obligatoire.")), at_most(40), SLUG],
    )
    territory = StringField(
        _l("Territoire du numéro"), validators=[InputRequired(_l("Obligatoire.")), at_most(64)]
    )
    number = StringField(
        _l("Numéro complet"), validators=[InputRequired(_l("Obligatoire.")), NUMBER]
    )


class NumberForm(FlaskForm):  # type: ignore[misc]
    territory = StringField(
        _l("Territoire (* = tous)"),
        validators=[InputRequired(_l("Obligatoire.")), at_most(64)],
    )
    number = StringField(
        _l("Numéro complet"), validators=[InputRequired(_l("Obligatoire.")), NUMBER]
    )
    verified = BooleanField(_l("Vérifié auprès du service"))


class NumberRemoveForm(FlaskForm):  # type: ignore[misc]
    territory = HiddenField(validators=[InputRequired(STALE), at_most(64)])


class LineOptionsForm(FlaskForm):  # type: ignore[misc]
    territory = StringField(
        _l("Territoire du centre"),
        validators=[InputRequired(_l("Obligatoire.")), at_most(64), SLUG],
    )
    queue_name = StringField(
        _l("File d'attente Asterisk (queues.conf)"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$", message=_l("Lettres, chiffres, _ . -")),
        ],
    )
    research_mailbox = StringField(
        _l("Boîte vocale de recherche (boîte@contexte)"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Regexp(
                r"^[A-Za-z0-9_-]{1,40}(@[A-Za-z0-9_-]{1,38})?$",
                message=_l("Par exemple 1000@recherche."),
            ),
        ],
    )


class MenuForm(FlaskForm):  # type: ignore[misc]
    max_attempts = WholeNumberField(
        _l("Essais avant le choix par défaut"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            NumberRange(1, 9, message=_l("Entre 1 et 9.")),
        ],
    )
    digit_timeout_ms = WholeNumberField(
        _l("Attente d'une touche (ms)"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            NumberRange(1000, 30000, message=_l("Entre 1000 et 30000 ms.")),
        ],
    )


class ClosedMenuForm(FlaskForm):  # type: ignore[misc]
    """One choice per phone key (``key_1`` ... ``key_star``, ``key_hash``), built below."""

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        research = [k for k in MENU_KEYS if self[menu_field(k)].data == RESEARCH_CHOICE]
        if len(research) != 1:
            first = self[menu_field(MENU_KEYS[0])]
            first.errors = [
                *first.errors,
                _("Une seule touche doit mener à la boîte vocale de recherche."),
            ]
            ok = False
        return ok

    def keys(self) -> tuple[dict[str, str], str]:
        transfers: dict[str, str] = {}
        research = ""
        for key in MENU_KEYS:
            value = self[menu_field(key)].data
            if value == RESEARCH_CHOICE:
                research = key
            elif value:
                transfers[key] = value
        return transfers, research


def menu_field(key: str) -> str:
    return "key_" + {"*": "star", "#": "hash"}.get(key, key)


for _key in MENU_KEYS:
    setattr(ClosedMenuForm, menu_field(_key), ChoiceField(_key, default="", validate_choice=True))


CONSENT_MAX_CHARS = 2000
DAYS_PLACEHOLDER = "{days}"


def _says_the_period(form: FlaskForm, field: Any) -> None:
    """The notice must say how long a message is kept (Loi 25), and say it through
    ``{days}`` so that the spoken period and the retention job cannot disagree."""
    if field.data and DAYS_PLACEHOLDER not in field.data:
        raise ValidationError(
            _("Le texte doit contenir {days}, remplacé par la durée de conservation.")
        )


class DaysField(IntegerField):  # type: ignore[misc]
    """A whole number of days, refused in the page's language rather than WTForms'."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Un nombre entier de jours, p. ex. 365.")) from None


def _consent_text(label: Any) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[
            DataRequired(_l("Obligatoire.")),
            Length(max=CONSENT_MAX_CHARS, message=_l("Au plus 2000 caractères.")),
            _says_the_period,
        ],
    )


class ConsentForm(FlaskForm):  # type: ignore[misc]
    text_fr = _consent_text(_l("Texte en français"))
    text_en = _consent_text(_l("Texte en anglais"))
    retention_days = DaysField(
        _l("Durée de conservation des messages (jours)"),
        validators=[
            InputRequired(_l("Indiquez un nombre de jours.")),
            NumberRange(1, 3650, message=_l("Entre 1 et 3650 jours.")),
        ],
    )
