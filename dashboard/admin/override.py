"""The override: the day/night switch, forcing the line open or closed for a while."""

from __future__ import annotations

from dashboard import db
from dashboard.admin.forms import CsrfOnlyForm, OverrideForm
from dashboard.admin.pages import ADMIN, Page, bp, by, fresh, page, post
from dashboard.roles import role_required
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
