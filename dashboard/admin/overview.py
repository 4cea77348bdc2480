"""The admin home: the line's state, the numbers to fill or verify, the settings'
version, and whether the dialplan's short codes match the directory."""

from __future__ import annotations

from dashboard import db
from dashboard.admin.destinations import dialplan_problems
from dashboard.admin.pages import ADMIN, Page, bp, page
from dashboard.roles import role_required
from store import linesettings as ls


@bp.get("/")
@role_required(ADMIN)
def index() -> Page:
    session = db.read_session()
    return page(
        "admin/index.html",
        unverified=ls.unverified_numbers(session),
        to_fill=ls.numbers_to_fill(session),
        version=ls.settings_version(session),
        dialplan_problems=dialplan_problems(ls.list_destinations(session)),
    )
