"""The opening hours: one row per weekday and one for holidays."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from dashboard.admin.forms import DAYS, HoursForm
from dashboard.admin.pages import (
    ADMIN,
    Page,
    apply,
    bp,
    by,
    done,
    field_errors,
    fresh,
    is_post,
    page,
)
from dashboard.roles import role_required
from ivr import settings as s
from store import linesettings as ls
from store import models


def _current(settings: s.LineSettings) -> dict[str, s.DayHours | None]:
    weekly = settings.schedule.weekly
    return {
        day: weekly.holiday if day == models.HOLIDAY_DAY else weekly.for_weekday(i)
        for i, day in enumerate(DAYS)
    }


def _hours_form(settings: s.LineSettings) -> HoursForm:
    data: dict[str, object] = {}
    for day, hours in _current(settings).items():
        data[f"{day}_opens"] = hours.opens if hours else None
        data[f"{day}_closes"] = hours.closes if hours else None
        data[f"{day}_closed"] = hours is None
    return HoursForm(data=data)


@bp.route("/hours", methods=["GET", "POST"])
@role_required(ADMIN)
def hours() -> Page:
    settings = fresh()
    if not is_post():
        return page("admin/hours.html", form=_hours_form(settings), days=DAYS)
    form = HoursForm()
    if form.validate_on_submit():
        current = _current(settings)
        changed = [day for day in DAYS if form.hours(day) != current[day]]
        if not changed:
            flash(_("Aucun changement."), "info")
            return redirect(url_for("admin.hours"))

        def change(session: Session) -> None:
            for day in changed:
                ls.set_hours(session, day, form.hours(day), by())  # type: ignore[arg-type]

        ok, _result = apply(change)
        if ok:
            return done("admin.hours")
    field_errors(form)
    return page("admin/hours.html", 400, form=form, days=DAYS)
