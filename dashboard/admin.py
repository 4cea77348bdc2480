"""The administrator's pages: hours, holidays, closures, the override, the destination
directory and its numbers, the line's options, the consent notice of the research box,
and the users.

Every change goes through a change function of ``store.linesettings`` (which bumps the
settings version in the same transaction), ``store.accounts`` or ``store.navigators``,
in one short write transaction. The FastAGI server re-reads the settings when their
version moves and rewrites the AstDB mirror, and the listener pushes the same values to
Asterisk as dialplan globals within seconds, so a change takes effect without a dialplan
edit or a reload; only a new short code needs a dialplan extension.

Forms are Flask-WTF (CSRF on every POST) and are validated twice: the form checks the
shape of each field with a French message, the change function checks the meaning
(unknown destination, duplicate code...) and its refusal is shown as it is. After a
change the page redirects (POST/redirect/GET) and shows the line's state read afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from dashboard import db
from dashboard.i18n import current_language
from dashboard.roles import ROLE_LABELS, role_required
from ivr import settings as s
from ivr.schedule import LineState, compute_state, holidays_in_year
from store import accounts, models, navigators
from store import linesettings as ls

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN = "admin"
EXTENSIONS_CONF_KEY = "IVR211_EXTENSIONS_CONF"
DEFAULT_EXTENSIONS_CONF = Path(__file__).resolve().parents[1] / "asterisk_conf" / "extensions.conf"
DAYS: tuple[str, ...] = (*models.DAY_NAMES, models.HOLIDAY_DAY)
DAY_LABELS = {
    "mon": _l("Lundi"),
    "tue": _l("Mardi"),
    "wed": _l("Mercredi"),
    "thu": _l("Jeudi"),
    "fri": _l("Vendredi"),
    "sat": _l("Samedi"),
    "sun": _l("Dimanche"),
    "holiday": _l("Jours fériés"),
}
REASONS = {
    "hours": _l("heures d'ouverture"),
    "after_hours": _l("en dehors des heures d'ouverture"),
    "holiday": _l("jour férié"),
    "closure": _l("fermeture exceptionnelle"),
    "override_open": _l("ouverture forcée"),
    "override_closed": _l("fermeture forcée"),
}
CATEGORY_LABELS = {
    "public": _l("Jours fériés légaux (public)"),
    "optional": _l("Jours facultatifs (optional) — p. ex. le lundi de Pâques"),
    "government": _l("Congés de la fonction publique (government)"),
}
KIND_CHOICES = [("emergency", _l("Urgence")), ("partner", _l("Programme partenaire"))]
MENU_KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")
RESEARCH_CHOICE = "@research"

T = TypeVar("T")
Page = str | WerkzeugResponse | tuple[str, int]
REFUSED = (ls.SettingsChangeError, accounts.AccountError, navigators.NavigatorError)


# ---- forms ---------------------------------------------------------------------------


def _choices(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


SLUG = Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Lettres minuscules, chiffres et tirets."))
NUMBER = Regexp(
    r"^\+?[0-9 ().-]{3,30}$",
    message=_l("Un numéro composable : chiffres, espaces, tirets, + au début."),
)
ENDPOINT = Regexp(
    r"^[A-Za-z0-9]+/[^\s;]+$", message=_l("Technologie et ressource, p. ex. PJSIP/nav-alice.")
)


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
    setattr(HoursForm, f"{_day}_opens", TimeField(_l("Ouverture"), validators=[Optional()]))
    setattr(HoursForm, f"{_day}_closes", TimeField(_l("Fermeture"), validators=[Optional()]))
    setattr(HoursForm, f"{_day}_closed", BooleanField(_l("Fermé toute la journée")))


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class HolidayRulesForm(FlaskForm):  # type: ignore[misc]
    categories = MultiCheckboxField(
        _l("Catégories"),
        validators=[InputRequired(message=_l("Choisissez au moins une catégorie."))],
    )
    subdivision = SelectField(_l("Province ou territoire"), default="", validate_choice=True)


class HolidayAddForm(FlaskForm):  # type: ignore[misc]
    day = DateField(_l("Date"), validators=[InputRequired(message=_l("Indiquez une date."))])
    name = StringField(
        _l("Nom"),
        validators=[InputRequired(message=_l("Donnez un nom au jour férié.")), Length(max=200)],
    )


class HolidayDayForm(FlaskForm):  # type: ignore[misc]
    day = DateField(_l("Date"), validators=[InputRequired(message=_l("Indiquez une date."))])


def _local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant of a wall-clock time in the line's zone; a time skipped by the spring
    DST change does not exist and is refused rather than silently moved."""
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        when = f"{day} {wall:%H:%M}"
        raise ValidationError(_("%(when)s n'existe pas (changement d'heure).", when=when))
    return aware


class ClosureForm(FlaskForm):  # type: ignore[misc]
    start_day = DateField(_l("Début (date)"), validators=[InputRequired(_l("Indiquez une date."))])
    start_time = TimeField(
        _l("Début (heure)"), validators=[InputRequired(_l("Indiquez une heure."))]
    )
    end_day = DateField(_l("Fin (date)"), validators=[InputRequired(_l("Indiquez une date."))])
    end_time = TimeField(_l("Fin (heure)"), validators=[InputRequired(_l("Indiquez une heure."))])
    reason = StringField(
        _l("Motif"),
        validators=[InputRequired(_l("Indiquez le motif (tempête, réunion...).")), Length(max=500)],
    )

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        try:
            starts = _local_instant(self.start_day.data, self.start_time.data, zone)
        except ValidationError as exc:
            self.start_time.errors = [*self.start_time.errors, str(exc)]
            return None
        try:
            ends = _local_instant(self.end_day.data, self.end_time.data, zone)
        except ValidationError as exc:
            self.end_time.errors = [*self.end_time.errors, str(exc)]
            return None
        if ends <= starts:
            self.end_time.errors = [*self.end_time.errors, _("La fin doit suivre le début.")]
            return None
        return starts, ends


class OverrideForm(FlaskForm):  # type: ignore[misc]
    # A forced closure is the night switch unless it is exceptional: callers hear the
    # opening hours, or that the line is exceptionally closed.
    mode = RadioField(
        _l("Forcer la ligne"),
        choices=_choices(
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
    until_day = DateField(_l("Jusqu'au (date)"), validators=[Optional()])
    until_time = TimeField(_l("Jusqu'à (heure)"), validators=[Optional()])
    reason = StringField(_l("Motif"), validators=[Optional(), Length(max=500)])

    def until(self, zone: ZoneInfo) -> tuple[bool, datetime | None]:
        day, wall = self.until_day.data, self.until_time.data
        if day is None and wall is None:
            return True, None
        if day is None or wall is None:
            field = self.until_day if day is None else self.until_time
            field.errors = [
                *field.errors,
                _("Indiquez la date et l'heure, ou ni l'une ni l'autre."),
            ]
            return False, None
        try:
            return True, _local_instant(day, wall, zone)
        except ValidationError as exc:
            self.until_time.errors = [*self.until_time.errors, str(exc)]
            return False, None


class DestinationEditForm(FlaskForm):  # type: ignore[misc]
    label_fr = StringField(
        _l("Nom (français)"), validators=[InputRequired(_l("Obligatoire.")), Length(max=200)]
    )
    label_en = StringField(
        _l("Nom (anglais)"), validators=[InputRequired(_l("Obligatoire.")), Length(max=200)]
    )
    kind = SelectField(_l("Type"), choices=_choices(KIND_CHOICES))
    report_group = StringField(
        _l("Ligne du rapport annuel"),
        validators=[InputRequired(_l("Obligatoire.")), Length(max=40), SLUG],
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
        validators=[InputRequired(_l("Obligatoire.")), Length(max=40), SLUG],
    )
    territory = StringField(
        _l("Territoire du numéro"), validators=[InputRequired(_l("Obligatoire.")), Length(max=64)]
    )
    number = StringField(
        _l("Numéro complet"), validators=[InputRequired(_l("Obligatoire.")), NUMBER]
    )


class NumberForm(FlaskForm):  # type: ignore[misc]
    territory = StringField(
        _l("Territoire (* = tous)"),
        validators=[InputRequired(_l("Obligatoire.")), Length(max=64)],
    )
    number = StringField(
        _l("Numéro complet"), validators=[InputRequired(_l("Obligatoire.")), NUMBER]
    )
    verified = BooleanField(_l("Vérifié auprès du service"))


class NumberRemoveForm(FlaskForm):  # type: ignore[misc]
    territory = HiddenField(validators=[InputRequired(), Length(max=64)])


class LineOptionsForm(FlaskForm):  # type: ignore[misc]
    territory = StringField(
        _l("Territoire du centre"),
        validators=[InputRequired(_l("Obligatoire.")), Length(max=64), SLUG],
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
    max_attempts = IntegerField(
        _l("Essais avant le choix par défaut"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            NumberRange(1, 9, message=_l("Entre 1 et 9.")),
        ],
    )
    digit_timeout_ms = IntegerField(
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
        research = [k for k in MENU_KEYS if self[_menu_field(k)].data == RESEARCH_CHOICE]
        if len(research) != 1:
            first = self[_menu_field(MENU_KEYS[0])]
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
            value = self[_menu_field(key)].data
            if value == RESEARCH_CHOICE:
                research = key
            elif value:
                transfers[key] = value
        return transfers, research


def _menu_field(key: str) -> str:
    return "key_" + {"*": "star", "#": "hash"}.get(key, key)


for _key in MENU_KEYS:
    setattr(ClosedMenuForm, _menu_field(_key), SelectField(_key, default="", validate_choice=True))


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


class ConsentForm(FlaskForm):  # type: ignore[misc]
    text_fr = TextAreaField(
        _l("Texte en français"),
        validators=[
            DataRequired(_l("Obligatoire.")),
            Length(max=CONSENT_MAX_CHARS, message=_l("Au plus 2000 caractères.")),
            _says_the_period,
        ],
    )
    text_en = TextAreaField(
        _l("Texte en anglais"),
        validators=[
            DataRequired(_l("Obligatoire.")),
            Length(max=CONSENT_MAX_CHARS, message=_l("Au plus 2000 caractères.")),
            _says_the_period,
        ],
    )
    retention_days = DaysField(
        _l("Durée de conservation des messages (jours)"),
        validators=[
            InputRequired(_l("Indiquez un nombre de jours.")),
            NumberRange(1, 3650, message=_l("Entre 1 et 3650 jours.")),
        ],
    )


class UserCreateForm(FlaskForm):  # type: ignore[misc]
    username = StringField(
        _l("Nom d'utilisateur"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Length(max=100),
            Regexp(r"^\S+$", message=_l("Sans espaces.")),
        ],
    )
    display_name = StringField(_l("Nom affiché"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Rôle"), choices=_choices(ROLE_LABELS.items()))
    language = SelectField(_l("Langue"), choices=_choices([("fr", "Français"), ("en", "English")]))
    password = PasswordField(
        _l("Mot de passe"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=1024,
                message=_l("Au moins %(n)s caractères.", n=accounts.MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Mot de passe (encore)"),
        validators=[EqualTo("password", message=_l("Les deux mots de passe diffèrent."))],
    )
    navigator = SelectField(_l("Compte de navigation existant"), default="", validate_choice=True)
    phone_endpoint = StringField(
        _l("Poste téléphonique (nouveau compte)"),
        validators=[Optional(), Length(max=120), ENDPOINT],
    )
    queue_interface = StringField(
        _l("Interface dans la file (vide = le poste)"),
        validators=[Optional(), Length(max=120), ENDPOINT],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if self.role.data == "navigator":
            if not self.navigator.data and not self.phone_endpoint.data:
                self.phone_endpoint.errors = [
                    *self.phone_endpoint.errors,
                    _("Un navigateur a besoin d'un poste : choisissez un compte ou donnez-en un."),
                ]
                ok = False
            if self.navigator.data and self.phone_endpoint.data:
                self.phone_endpoint.errors = [
                    *self.phone_endpoint.errors,
                    _("Choisissez un compte existant ou un nouveau poste, pas les deux."),
                ]
                ok = False
        elif self.navigator.data or self.phone_endpoint.data or self.queue_interface.data:
            self.role.errors = [
                *self.role.errors,
                _("Seul un navigateur est lié à un poste téléphonique."),
            ]
            ok = False
        return ok


class PasswordResetForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("Nouveau mot de passe"),
        validators=[
            InputRequired(_l("Obligatoire.")),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=1024,
                message=_l("Au moins %(n)s caractères.", n=accounts.MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Nouveau mot de passe (encore)"),
        validators=[EqualTo("password", message=_l("Les deux mots de passe diffèrent."))],
    )


# ---- helpers -------------------------------------------------------------------------


def _by() -> str:
    name: str = current_user.username
    return name


def _zone(settings: s.LineSettings) -> ZoneInfo:
    return ZoneInfo(settings.schedule.timezone)


def _fresh() -> s.LineSettings:
    """The settings read now, not the few-seconds cache: a page shown right after a
    change must show that change."""
    return db.settings_store().load(db.now())


def _apply(change: Callable[[Any], T]) -> tuple[bool, T | None]:
    """Run one change in a short write transaction; a refusal is flashed, not raised."""
    try:
        with db.write() as session:
            result = change(session)
    except REFUSED as exc:
        flash(_("Changement refusé : %(why)s", why=str(exc)), "error")
        return False, None
    return True, result


def _done(endpoint: str, **values: Any) -> WerkzeugResponse:
    db.context().settings.invalidate()
    flash(_("Enregistré. Le changement prend effet en quelques secondes."), "success")
    return redirect(url_for(endpoint, **values))


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    settings = _fresh()
    now = db.now()
    state: LineState = compute_state(settings.schedule, now)
    return (
        render_template(
            template,
            settings=settings,
            state=state,
            reason=REASONS.get(state.reason, state.reason),
            now=now,
            day_labels=DAY_LABELS,
            **context,
        ),
        status,
    )


def _field_errors(form: FlaskForm) -> None:
    if "csrf_token" in form.errors:
        flash(_("Le formulaire a expiré ou n'est pas valide : rechargez la page."), "error")


# ---- overview ------------------------------------------------------------------------


@bp.get("/")
@role_required(ADMIN)
def index() -> Page:
    session = db.read_session()
    return _page(
        "admin/index.html",
        unverified=ls.unverified_numbers(session),
        to_fill=ls.numbers_to_fill(session),
        version=session.get(models.SettingsVersion, models.SINGLETON_ID),
        dialplan_problems=_dialplan_problems(ls.list_destinations(session)),
    )


# ---- hours ---------------------------------------------------------------------------


def _hours_form(settings: s.LineSettings) -> HoursForm:
    weekly = settings.schedule.weekly
    data: dict[str, object] = {}
    for i, day in enumerate(DAYS):
        hours = weekly.holiday if day == models.HOLIDAY_DAY else weekly.for_weekday(i)
        data[f"{day}_opens"] = hours.opens if hours else None
        data[f"{day}_closes"] = hours.closes if hours else None
        data[f"{day}_closed"] = hours is None
    return HoursForm(data=data)


@bp.route("/hours", methods=["GET", "POST"])
@role_required(ADMIN)
def hours() -> Page:
    settings = _fresh()
    form = HoursForm() if _is_post() else _hours_form(settings)
    if _is_post():
        if form.validate_on_submit():
            weekly = settings.schedule.weekly
            current = {
                day: (weekly.holiday if day == models.HOLIDAY_DAY else weekly.for_weekday(i))
                for i, day in enumerate(DAYS)
            }
            changed = [day for day in DAYS if form.hours(day) != current[day]]

            def change(session: Any) -> None:
                for day in changed:
                    ls.set_hours(session, day, form.hours(day), _by())  # type: ignore[arg-type]

            if not changed:
                flash(_("Aucun changement."), "info")
                return redirect(url_for("admin.hours"))
            ok, _result = _apply(change)
            if ok:
                return _done("admin.hours")
        _field_errors(form)
        return _page("admin/hours.html", 400, form=form, days=DAYS)
    return _page("admin/hours.html", form=form, days=DAYS)


def _is_post() -> bool:
    return request.method == "POST"


# ---- holidays ------------------------------------------------------------------------


def _rules_form(settings: s.LineSettings, formdata: bool) -> HolidayRulesForm:
    rules = settings.schedule.holidays
    form = (
        HolidayRulesForm()
        if formdata
        else HolidayRulesForm(
            data={"categories": list(rules.categories), "subdivision": rules.subdivision}
        )
    )
    form.categories.choices = _choices(
        (c, CATEGORY_LABELS.get(c, c)) for c in ls.holiday_categories(rules.country)
    )
    form.subdivision.choices = _choices(
        [("", _("Aucune (jours nationaux seulement)"))]
        + [(code, code) for code in ls.holiday_subdivisions(rules.country)]
    )
    return form


def _coming_holidays(settings: s.LineSettings) -> list[tuple[date, str]]:
    """The line's holidays in the next twelve months, from the line's calendar."""
    today = db.now().astimezone(_zone(settings)).date()
    end = today + timedelta(days=365)
    rules = settings.schedule.holidays
    years = range(today.year, end.year + 1)
    found: dict[date, str] = {}
    for year in years:
        found.update(holidays_in_year(rules, year))
    local_names = _holiday_names(rules, tuple(years), current_language())
    return sorted(
        (d, n if d in rules.added else local_names.get(d, n))
        for d, n in found.items()
        if today <= d < end
    )


def _holiday_names(rules: s.HolidayRules, years: tuple[int, ...], language: str) -> dict[date, str]:
    """The calendar's names in the page's language ("Fête nationale du Québec"), for
    display only: which days are holidays is decided by ``holidays_in_year``."""
    try:
        names = holidays_lib.country_holidays(
            rules.country,
            subdiv=rules.subdivision or None,
            categories=rules.categories,
            years=years,
            language="fr" if language == "fr" else "en_CA",
        )
    except NotImplementedError:
        return {}
    return {d: str(n) for d, n in names.items()}


def _holidays_page(status: int = 200, **forms: FlaskForm) -> Page:
    settings = _fresh()
    rules = settings.schedule.holidays
    return _page(
        "admin/holidays.html",
        status,
        rules=rules,
        coming=_coming_holidays(settings),
        added=sorted(rules.added.items()),
        removed=sorted(rules.removed),
        rules_form=forms.get("rules_form") or _rules_form(settings, formdata=False),
        add_form=forms.get("add_form") or HolidayAddForm(formdata=None),
        remove_form=forms.get("remove_form") or HolidayDayForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.get("/holidays")
@role_required(ADMIN)
def holidays() -> Page:
    return _holidays_page()


@bp.post("/holidays/rules")
@role_required(ADMIN)
def holiday_rules() -> Page:
    form = _rules_form(_fresh(), formdata=True)
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.set_holiday_rules(
                session, list(form.categories.data or []), form.subdivision.data, _by()
            )
        )
        if ok:
            return _done("admin.holidays")
    _field_errors(form)
    return _holidays_page(400, rules_form=form)


@bp.post("/holidays/add")
@role_required(ADMIN)
def holiday_add() -> Page:
    form = HolidayAddForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.add_holiday_date(session, form.day.data, form.name.data, _by())
        )
        if ok:
            return _done("admin.holidays")
    _field_errors(form)
    return _holidays_page(400, add_form=form)


@bp.post("/holidays/remove")
@role_required(ADMIN)
def holiday_remove() -> Page:
    form = HolidayDayForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: ls.remove_holiday_date(session, form.day.data, _by()))
        if ok:
            return _done("admin.holidays")
    _field_errors(form)
    return _holidays_page(400, remove_form=form)


@bp.post("/holidays/forget")
@role_required(ADMIN)
def holiday_forget() -> Page:
    form = HolidayDayForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: ls.forget_holiday_date(session, form.day.data, _by()))
        if ok:
            return _done("admin.holidays")
    _field_errors(form)
    return _holidays_page(400)


# ---- exceptional closures ------------------------------------------------------------


def _closures_page(status: int = 200, form: ClosureForm | None = None) -> Page:
    return _page(
        "admin/closures.html",
        status,
        closures=ls.list_closures(db.read_session(), ending_after=db.now()),
        form=form or ClosureForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.get("/closures")
@role_required(ADMIN)
def closures() -> Page:
    return _closures_page()


@bp.post("/closures")
@role_required(ADMIN)
def closure_add() -> Page:
    form = ClosureForm()
    if form.validate_on_submit():
        span = form.instants(_zone(_fresh()))
        if span is not None:
            starts, ends = span
            ok, _r = _apply(
                lambda session: ls.add_closure(
                    session, starts, ends, form.reason.data, _by(), now=db.now()
                )
            )
            if ok:
                return _done("admin.closures")
    _field_errors(form)
    return _closures_page(400, form)


@bp.post("/closures/<int:closure_id>/remove")
@role_required(ADMIN)
def closure_remove(closure_id: int) -> Page:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: ls.remove_closure(session, closure_id, _by()))
        if ok:
            return _done("admin.closures")
    _field_errors(form)
    return _closures_page(400)


# ---- the override (day/night switch) -------------------------------------------------


def _override_page(status: int = 200, form: OverrideForm | None = None) -> Page:
    return _page(
        "admin/override.html",
        status,
        form=form or OverrideForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.get("/override")
@role_required(ADMIN)
def override() -> Page:
    return _override_page()


@bp.post("/override")
@role_required(ADMIN)
def override_set() -> Page:
    form = OverrideForm()
    if form.validate_on_submit():
        valid, until = form.until(_zone(_fresh()))
        if valid:
            mode: s.OverrideMode = "open" if form.mode.data == "open" else "closed"
            ok, _r = _apply(
                lambda session: ls.set_override(
                    session,
                    mode,
                    until,
                    (form.reason.data or "").strip(),
                    _by(),
                    now=db.now(),
                    exceptional=form.mode.data == "exceptional",
                )
            )
            if ok:
                return _done("admin.override")
    _field_errors(form)
    return _override_page(400, form)


@bp.post("/override/clear")
@role_required(ADMIN)
def override_clear() -> Page:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: ls.set_override(session, None, None, "", _by()))
        if ok:
            return _done("admin.override")
    _field_errors(form)
    return _override_page(400)


# ---- destinations and their numbers --------------------------------------------------


def _extensions_conf() -> Path:
    return Path(current_app.config.get(EXTENSIONS_CONF_KEY) or DEFAULT_EXTENSIONS_CONF)


def _dialplan_problems(destinations: list[ls.DestinationRecord]) -> Mapping[str, str] | None:
    """Destination key -> mismatch with the dialplan's short codes; None if unreadable."""
    try:
        text = _extensions_conf().read_text(encoding="utf-8")
    except OSError:
        return None
    return ls.dialplan_mismatches(destinations, ls.dialplan_transfer_codes(text))


def _destinations_page(status: int = 200, form: DestinationAddForm | None = None) -> Page:
    settings = _fresh()
    rows = ls.list_destinations(db.read_session())
    if form is None:
        form = DestinationAddForm(
            formdata=None, data={"territory": settings.territory, "active": True}
        )
    return _page(
        "admin/destinations.html",
        status,
        destinations=rows,
        dialplan_problems=_dialplan_problems(rows),
        extensions_conf=_extensions_conf(),
        form=form,
    )


@bp.get("/destinations")
@role_required(ADMIN)
def destinations() -> Page:
    return _destinations_page()


@bp.post("/destinations")
@role_required(ADMIN)
def destination_add() -> Page:
    form = DestinationAddForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.add_destination(
                session,
                form.key.data,
                form.label_fr.data,
                form.label_en.data,
                form.kind.data,
                form.report_group.data,
                form.short_code.data,
                {form.territory.data.strip(): form.number.data},
                _by(),
                active=bool(form.active.data),
            )
        )
        if ok:
            return _done("admin.destination", key=form.key.data.strip())
    _field_errors(form)
    return _destinations_page(400, form)


def _destination_record(key: str) -> ls.DestinationRecord:
    for row in ls.list_destinations(db.read_session()):
        if row.key == key:
            return row
    abort(404)


def _destination_page(
    key: str,
    status: int = 200,
    edit_form: DestinationEditForm | None = None,
    number_form: NumberForm | None = None,
) -> Page:
    record = _destination_record(key)
    problems = _dialplan_problems(ls.list_destinations(db.read_session()))
    return _page(
        "admin/destination.html",
        status,
        dest=record,
        dialplan_problem=None if problems is None else problems.get(key),
        dialplan_unknown=problems is None,
        extensions_conf=_extensions_conf(),
        edit_form=edit_form
        or DestinationEditForm(
            formdata=None,
            data={
                "label_fr": record.label_fr,
                "label_en": record.label_en,
                "kind": record.kind,
                "report_group": record.report_group,
                "short_code": record.short_code,
                "active": record.active,
            },
        ),
        number_form=number_form or NumberForm(formdata=None, data={"verified": True}),
        remove_form=NumberRemoveForm(formdata=None),
    )


@bp.get("/destinations/<key>")
@role_required(ADMIN)
def destination(key: str) -> Page:
    return _destination_page(key)


@bp.post("/destinations/<key>")
@role_required(ADMIN)
def destination_edit(key: str) -> Page:
    _destination_record(key)
    form = DestinationEditForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.update_destination(
                session,
                key,
                _by(),
                label_fr=form.label_fr.data,
                label_en=form.label_en.data,
                kind=form.kind.data,
                report_group=form.report_group.data,
                short_code=form.short_code.data,
                active=bool(form.active.data),
            )
        )
        if ok:
            return _done("admin.destination", key=key)
    _field_errors(form)
    return _destination_page(key, 400, edit_form=form)


@bp.post("/destinations/<key>/numbers")
@role_required(ADMIN)
def number_set(key: str) -> Page:
    _destination_record(key)
    form = NumberForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.set_destination_number(
                session,
                key,
                form.territory.data.strip(),
                form.number.data,
                _by(),
                verified=bool(form.verified.data),
            )
        )
        if ok:
            return _done("admin.destination", key=key)
    _field_errors(form)
    return _destination_page(key, 400, number_form=form)


@bp.post("/destinations/<key>/numbers/remove")
@role_required(ADMIN)
def number_remove(key: str) -> Page:
    _destination_record(key)
    form = NumberRemoveForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.remove_destination_number(session, key, form.territory.data, _by())
        )
        if ok:
            return _done("admin.destination", key=key)
    _field_errors(form)
    return _destination_page(key, 400)


# ---- line options, menus -------------------------------------------------------------


def _closed_menu_form(settings: s.LineSettings, formdata: bool) -> ClosedMenuForm:
    data = {_menu_field(k): "" for k in MENU_KEYS}
    for digit, key in settings.closed_transfer_keys.items():
        data[_menu_field(digit)] = key
    data[_menu_field(settings.closed_research_key)] = RESEARCH_CHOICE
    form = ClosedMenuForm() if formdata else ClosedMenuForm(formdata=None, data=data)
    lang_label = "label_en" if current_language() == "en" else "label_fr"
    choices = [
        ("", _("(rien)")),
        (RESEARCH_CHOICE, _("Boîte vocale de recherche")),
        *((d.key, f"{getattr(d, lang_label)} ({d.key})") for d in settings.destinations),
    ]
    for key in MENU_KEYS:
        form[_menu_field(key)].choices = _choices(choices)
    return form


def _line_page(status: int = 200, **forms: FlaskForm) -> Page:
    settings = _fresh()
    return _page(
        "admin/line.html",
        status,
        options_form=forms.get("options_form")
        or LineOptionsForm(
            formdata=None,
            data={
                "territory": settings.territory,
                "queue_name": settings.queue_name,
                "research_mailbox": settings.research_mailbox,
            },
        ),
        menu_form=forms.get("menu_form")
        or MenuForm(
            formdata=None,
            data={
                "max_attempts": settings.menu.max_attempts,
                "digit_timeout_ms": settings.menu.digit_timeout_ms,
            },
        ),
        closed_form=forms.get("closed_form") or _closed_menu_form(settings, formdata=False),
        menu_keys=[(k, _menu_field(k)) for k in MENU_KEYS],
    )


@bp.get("/line")
@role_required(ADMIN)
def line() -> Page:
    return _line_page()


@bp.post("/line/options")
@role_required(ADMIN)
def line_options() -> Page:
    form = LineOptionsForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.set_line_options(
                session,
                _by(),
                territory=form.territory.data,
                queue_name=form.queue_name.data,
                research_mailbox=form.research_mailbox.data,
            )
        )
        if ok:
            return _done("admin.line")
    _field_errors(form)
    return _line_page(400, options_form=form)


@bp.post("/line/menu")
@role_required(ADMIN)
def line_menu() -> Page:
    form = MenuForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: ls.set_menu(
                session, form.max_attempts.data, form.digit_timeout_ms.data, _by()
            )
        )
        if ok:
            return _done("admin.line")
    _field_errors(form)
    return _line_page(400, menu_form=form)


@bp.post("/line/closed-menu")
@role_required(ADMIN)
def line_closed_menu() -> Page:
    form = _closed_menu_form(_fresh(), formdata=True)
    if form.validate_on_submit():
        transfers, research = form.keys()
        ok, _r = _apply(lambda session: ls.set_closed_menu(session, transfers, research, _by()))
        if ok:
            return _done("admin.line")
    _field_errors(form)
    return _line_page(400, closed_form=form)


# ---- the consent notice of the research box --------------------------------------------


def _consent_page(status: int = 200, form: ConsentForm | None = None) -> Page:
    consent = _fresh().research_consent
    default = s.ResearchConsent()
    return _page(
        "admin/consent.html",
        status,
        consent=consent,
        default=default,
        is_default=consent == default,
        form=form
        or ConsentForm(
            formdata=None,
            data={
                "text_fr": consent.text_fr,
                "text_en": consent.text_en,
                "retention_days": consent.retention_days,
            },
        ),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.get("/consent")
@role_required(ADMIN)
def consent() -> Page:
    return _consent_page()


@bp.post("/consent")
@role_required(ADMIN)
def consent_set() -> Page:
    form = ConsentForm()
    if form.validate_on_submit():
        default = s.ResearchConsent()
        text_fr, text_en = form.text_fr.data.strip(), form.text_en.data.strip()
        ok, _r = _apply(
            lambda session: ls.set_research_consent(
                session,
                None if text_fr == default.text_fr else text_fr,
                None if text_en == default.text_en else text_en,
                form.retention_days.data,
                _by(),
            )
        )
        if ok:
            return _done("admin.consent")
    _field_errors(form)
    return _consent_page(400, form)


@bp.post("/consent/default")
@role_required(ADMIN)
def consent_default() -> Page:
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: ls.set_research_consent(session, None, None, None, _by()))
        if ok:
            return _done("admin.consent")
    _field_errors(form)
    return _consent_page(400)


# ---- users ---------------------------------------------------------------------------


def _free_navigators(session: Any) -> list[navigators.Navigator]:
    tied = {u.navigator_id for u in accounts.list_users(session) if u.navigator_id is not None}
    return [n for n in navigators.list_navigators(session) if n.id not in tied]


def _user_form(formdata: bool) -> UserCreateForm:
    form = UserCreateForm() if formdata else UserCreateForm(formdata=None, data={"role": "manager"})
    form.navigator.choices = _choices(
        [("", _("(nouveau compte, poste ci-dessous)"))]
        + [
            (str(n.id), f"{n.username} — {n.phone_endpoint}")
            for n in _free_navigators(db.read_session())
        ]
    )
    return form


def _users_page(status: int = 200, form: UserCreateForm | None = None) -> Page:
    session = db.read_session()
    by_id = {n.id: n for n in navigators.list_navigators(session)}
    return _page(
        "admin/users.html",
        status,
        users=accounts.list_users(session),
        navigators=by_id,
        role_labels=ROLE_LABELS,
        form=form or _user_form(formdata=False),
    )


@bp.get("/users")
@role_required(ADMIN)
def users() -> Page:
    return _users_page()


@bp.post("/users")
@role_required(ADMIN)
def user_create() -> Page:
    form = _user_form(formdata=True)
    if form.validate_on_submit():

        def change(session: Any) -> str:
            navigator_id: int | None = None
            if form.role.data == "navigator":
                if form.navigator.data:
                    navigator_id = int(form.navigator.data)
                else:
                    navigator_id = navigators.add_navigator(
                        session,
                        accounts.normalize_username(form.username.data),
                        form.display_name.data or "",
                        form.phone_endpoint.data,
                        form.queue_interface.data or None,
                    ).id
            user = accounts.create_user(
                session,
                form.username.data,
                form.password.data,
                form.role.data,
                display_name=form.display_name.data or "",
                language=form.language.data,
                navigator_id=navigator_id,
                now=db.now(),
            )
            return user.username

        ok, name = _apply(change)
        if ok and name is not None:
            current_app.logger.info("user %s created by %s", name, _by())
            return _done("admin.user", username=name)
    form.password.data = form.confirm.data = ""
    _field_errors(form)
    return _users_page(400, form)


def _user_or_404(username: str) -> accounts.User:
    user = accounts.user_by_username(db.read_session(), username)
    if user is None:
        abort(404)
    return user


def _user_page(username: str, status: int = 200, form: PasswordResetForm | None = None) -> Page:
    user = _user_or_404(username)
    navigator = (
        db.read_session().get(models.Navigator, user.navigator_id) if user.navigator_id else None
    )
    return _page(
        "admin/user.html",
        status,
        user=user,
        navigator=navigator,
        role_labels=ROLE_LABELS,
        form=form or PasswordResetForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.get("/users/<username>")
@role_required(ADMIN)
def user(username: str) -> Page:
    return _user_page(username)


@bp.post("/users/<username>/password")
@role_required(ADMIN)
def user_password(username: str) -> Page:
    _user_or_404(username)
    form = PasswordResetForm()
    if form.validate_on_submit():
        ok, _r = _apply(
            lambda session: accounts.set_password(session, username, form.password.data)
        )
        if ok:
            current_app.logger.info("password of %s reset by %s", username, _by())
            flash(_("Mot de passe changé : les sessions de cet utilisateur sont fermées."), "info")
            return redirect(url_for("admin.user", username=username))
    form.password.data = form.confirm.data = ""
    _field_errors(form)
    return _user_page(username, 400, form)


def _set_user_active(session: Any, username: str, active: bool) -> None:
    user = accounts.user_by_username(session, username)
    if user is None:
        raise accounts.AccountError(f"no user {username!r}")
    if not active and user.id == current_user.id:
        raise accounts.AccountError(_("vous ne pouvez pas désactiver votre propre compte"))
    user.active = active
    if user.navigator_id is not None:
        navigator = session.get(models.Navigator, user.navigator_id)
        if navigator is not None:
            navigators.set_active(session, navigator.username, active)
    session.flush()


@bp.post("/users/<username>/disable")
@role_required(ADMIN)
def user_disable(username: str) -> Page:
    return _user_active(username, False)


@bp.post("/users/<username>/enable")
@role_required(ADMIN)
def user_enable(username: str) -> Page:
    return _user_active(username, True)


def _user_active(username: str, active: bool) -> Page:
    _user_or_404(username)
    form = CsrfOnlyForm()
    if form.validate_on_submit():
        ok, _r = _apply(lambda session: _set_user_active(session, username, active))
        if ok:
            current_app.logger.info(
                "user %s %s by %s", username, "enabled" if active else "disabled", _by()
            )
            flash(
                _("Compte réactivé.")
                if active
                else _("Compte désactivé : il ne peut plus se connecter."),
                "info",
            )
            return redirect(url_for("admin.user", username=username))
    _field_errors(form)
    return _user_page(username, 400)
