"""The audit log of personal-data access, for administrators: a page and a CSV export.

Administrators see who listed, played, downloaded, annotated, deleted, exported or purged
what and when — never the messages themselves (those are the research role's, see
dashboard/research.py). The rows hold no health detail (store.voicemail.AuditEntry), so
the export is safe to hand to the privacy officer; the export itself writes an "export"
row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from dashboard import db
from dashboard.admin.pages import ADMIN, page
from dashboard.roles import role_required
from store import csvfile
from store.voicemail import AUDIT_ACTIONS, AuditEntry, audit, audit_entries

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

#: At most this many rows on the page (the export has them all).
PAGE_ROWS = 500
CSV_COLUMNS = ("at", "user", "role", "action", "object", "detail")
#: The days a filter may name: the day after exists, and midnight converts to UTC in any
#: zone (a day at the calendar's edge would overflow ``datetime``).
FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)

ACTION_LABELS: dict[str, Any] = {
    "list": _l("liste"),
    "view": _l("consultation"),
    "play": _l("écoute"),
    "download": _l("téléchargement"),
    "delete": _l("effacement"),
    "note": _l("note"),
    "status": _l("changement d'état"),
    "export": _l("exportation"),
    "purge": _l("purge"),
    "ingest": _l("réception"),
    "login": _l("connexion"),
    "account": _l("compte de recherche"),
}

__all__ = ["ACTION_LABELS", "AuditFilter", "bp", "csv_rows"]


@dataclass(frozen=True)
class AuditFilter:
    """The page's filters, read from the query string; a bad value is ignored, a day out of
    ``FIRST_DAY``..``LAST_DAY`` is refused (400, saying so)."""

    action: str | None = None
    user: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> AuditFilter:
        action = args.get("action") or None
        user = (args.get("user") or "").strip() or None
        return cls(
            action=action if action in AUDIT_ACTIONS else None,
            user=user[:100] if user else None,
            since=_day(args.get("since")),
            until=_day(args.get("until")),
        )

    def entries(self, session: Session, zone: ZoneInfo, limit: int | None) -> list[AuditEntry]:
        """The rows, newest first; ``since`` and ``until`` are whole days in ``zone``."""
        return audit_entries(
            session,
            action=self.action,
            user=self.user,
            since=datetime.combine(self.since, time(), zone) if self.since else None,
            before=(
                datetime.combine(self.until + timedelta(days=1), time(), zone)
                if self.until
                else None
            ),
            limit=limit,
        )

    def describe(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("action", self.action),
                ("user", self.user),
                ("since", self.since),
                ("until", self.until),
            )
            if value
        ]
        return " ".join(parts) or "all"


def _day(value: str | None) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(
            _(
                "Date hors limites : choisissez un jour du %(first)s au %(last)s.",
                first=FIRST_DAY.isoformat(),
                last=LAST_DAY.isoformat(),
            )
        )
    return day


def csv_rows(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csvfile.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([e.at.isoformat(), e.user, e.role, e.action, e.object, e.detail])
    return out.getvalue()


@bp.get("/")
@role_required(ADMIN)
def index() -> Any:
    wanted = AuditFilter.from_args(request.args)
    entries = wanted.entries(db.read_session(), db.line_settings().zone, PAGE_ROWS + 1)
    return page(
        "audit/index.html",
        entries=entries[:PAGE_ROWS],
        truncated=len(entries) > PAGE_ROWS,
        wanted=wanted,
        actions=ACTION_LABELS,
        page_rows=PAGE_ROWS,
    )


@bp.get("/export.csv")
@role_required(ADMIN)
def export() -> Response:
    wanted = AuditFilter.from_args(request.args)
    with db.write() as session:
        body = csv_rows(wanted.entries(session, db.line_settings().zone, None))
        audit(
            session,
            current_user.username,
            current_user.role,
            "export",
            "audit_log",
            wanted.describe(),
            at=db.now(),
        )
    stamp = db.now().astimezone(db.line_settings().zone).strftime("%Y%m%d-%H%M")
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
