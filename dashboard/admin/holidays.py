"""Holidays: which categories of the country's calendar the line observes, and the days
added to it or taken off it."""

from __future__ import annotations

from datetime import date, timedelta

import holidays as holidays_lib
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from dashboard import db
from dashboard.admin.forms import (
    CsrfOnlyForm,
    HolidayAddForm,
    HolidayDayForm,
    HolidayRulesForm,
    choices,
)
from dashboard.admin.pages import ADMIN, Page, bp, by, fresh, page, post
from dashboard.i18n import current_language
from dashboard.roles import role_required
from ivr import settings as s
from ivr.schedule import holidays_in_year
from store import linesettings as ls

CATEGORY_LABELS = {
    "public": _l("Jours fériés légaux (public)"),
    "optional": _l("Jours facultatifs (optional) — p. ex. le lundi de Pâques"),
    "government": _l("Congés de la fonction publique (government)"),
}


def _rules_form(settings: s.LineSettings, formdata: bool) -> HolidayRulesForm:
    rules = settings.schedule.holidays
    form = (
        HolidayRulesForm()
        if formdata
        else HolidayRulesForm(
            data={"categories": list(rules.categories), "subdivision": rules.subdivision}
        )
    )
    form.categories.choices = choices(
        (c, CATEGORY_LABELS.get(c, c)) for c in ls.holiday_categories(rules.country)
    )
    form.subdivision.choices = choices(
        [("", _("Aucune (jours nationaux seulement)"))]
        + [(code, code) for code in ls.holiday_subdivisions(rules.country)]
    )
    return form


def _coming_holidays(settings: s.LineSettings) -> list[tuple[date, str]]:
    """The line's holidays in the next twelve months, from the line's calendar."""
    today = db.now().astimezone(settings.zone).date()
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


@bp.get("/holidays")
@role_required(ADMIN)
def holidays(status: int = 200, **forms: FlaskForm) -> Page:
    """The page; after a refused POST, shown again with status 400 and the refused
    form (``rules_form``, ``add_form`` or ``remove_form``)."""
    settings = fresh()
    rules = settings.schedule.holidays
    return page(
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


@bp.post("/holidays/rules")
@role_required(ADMIN)
def holiday_rules() -> Page:
    form = _rules_form(fresh(), formdata=True)
    return post(
        form,
        lambda session: ls.set_holiday_rules(
            session, list(form.categories.data or []), form.subdivision.data, by()
        ),
        "admin.holidays",
        lambda: holidays(400, rules_form=form),
    )


@bp.post("/holidays/add")
@role_required(ADMIN)
def holiday_add() -> Page:
    form = HolidayAddForm()
    return post(
        form,
        lambda session: ls.add_holiday_date(session, form.day.data, form.name.data, by()),
        "admin.holidays",
        lambda: holidays(400, add_form=form),
    )


@bp.post("/holidays/remove")
@role_required(ADMIN)
def holiday_remove() -> Page:
    form = HolidayDayForm()
    return post(
        form,
        lambda session: ls.remove_holiday_date(session, form.day.data, by()),
        "admin.holidays",
        lambda: holidays(400, remove_form=form),
    )


@bp.post("/holidays/forget")
@role_required(ADMIN)
def holiday_forget() -> Page:
    form = HolidayDayForm()
    return post(
        form,
        lambda session: ls.forget_holiday_date(session, form.day.data, by()),
        "admin.holidays",
        lambda: holidays(400),
    )
