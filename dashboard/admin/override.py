"""The override: the day/night switch, forcing the line open or closed for a while, and
the one-click "close the line now / reopen" of every admin page's state card.

The one click is the same override (``store.linesettings.set_override``): it names who
made it and when in the override row and the settings' history, and is logged.
"""

from __future__ import annotations

import dataclasses

from flask import current_app, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import db
from dashboard.admin.forms import CsrfOnlyForm, LineNowForm, OverrideForm
from dashboard.admin.pages import ADMIN, Page, bp, by, done, fresh, page, post
from dashboard.auth import safe_next
from dashboard.roles import role_required
from ivr.schedule import compute_state
from store import linesettings as ls


@bp.get("/override")
@role_required(ADMIN)
def override(status: int = 200, form: OverrideForm | None = None) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    return page(
        "admin/override.html",
        status,
        form=form or OverrideForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.post("/override")
@role_required(ADMIN)
def override_set() -> Page:
    form = OverrideForm()
    return post(
        form,
        lambda session: ls.set_override(
            session,
            form.override_mode,
            form.until,
            (form.reason.data or "").strip(),
            by(),
            now=db.now(),
            exceptional=form.exceptional,
        ),
        "admin.override",
        lambda: override(400, form),
        meaning=lambda: form.read_until(fresh().zone),
    )


@bp.post("/override/clear")
@role_required(ADMIN)
def override_clear() -> Page:
    return post(
        CsrfOnlyForm(),
        lambda session: ls.set_override(session, None, None, "", by()),
        "admin.override",
        lambda: override(400),
    )


@bp.post("/override/now")
@role_required(ADMIN)
def override_now() -> Page:
    """Close the line now (until reopened), or reopen it: back to the schedule when the
    schedule alone has it open, else forced open until changed."""
    form = LineNowForm()
    back = safe_next(request.form.get("back")) or ""

    def change(session: Session) -> str:
        reason = (form.reason.data or "").strip()
        now = db.now()
        if form.action.data == "close":
            exceptional = bool(form.exceptional.data)
            ls.set_override(session, "closed", None, reason, by(), now=now, exceptional=exceptional)
            return "closed"
        schedule = fresh().schedule
        if compute_state(dataclasses.replace(schedule, override=None), now).is_open:
            ls.set_override(session, None, None, "", by(), now=now)
            return "schedule"
        ls.set_override(session, "open", None, reason, by(), now=now)
        return "open"

    def saved(result: str | None) -> WerkzeugResponse:
        current_app.logger.info("line %s now by %s", result, by())
        response = done("admin.index")
        if back.startswith("/admin"):
            response.headers["Location"] = back
        return response

    def again() -> Page:
        return override(400)

    return post(form, change, saved, again)
