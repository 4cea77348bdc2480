"""Exceptional closures: a span of time when the line is closed (storm, meeting...)."""

from __future__ import annotations

from dashboard import db
from dashboard.admin.forms import ClosureForm, CsrfOnlyForm
from dashboard.admin.pages import ADMIN, Page, bp, by, fresh, page, post
from dashboard.roles import role_required
from store import linesettings as ls


@bp.get("/closures")
@role_required(ADMIN)
def closures(status: int = 200, form: ClosureForm | None = None) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    return page(
        "admin/closures.html",
        status,
        closures=ls.list_closures(db.read_session(), ending_after=db.now()),
        form=form or ClosureForm(formdata=None),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.post("/closures")
@role_required(ADMIN)
def closure_add() -> Page:
    form = ClosureForm()
    return post(
        form,
        lambda session: ls.add_closure(
            session, form.starts, form.ends, form.reason.data, by(), now=db.now()
        ),
        "admin.closures",
        lambda: closures(400, form),
        meaning=lambda: form.read_span(fresh().zone),
    )


@bp.post("/closures/<int:closure_id>/remove")
@role_required(ADMIN)
def closure_remove(closure_id: int) -> Page:
    return post(
        CsrfOnlyForm(),
        lambda session: ls.remove_closure(session, closure_id, by()),
        "admin.closures",
        lambda: closures(400),
    )
