"""The audit log of personal-data access, for administrators: a page and a CSV export.

Administrators see who listed, played, downloaded, annotated, deleted, exported or purged
what and when — never the messages themselves (those are the research role's, see
dashboard/research.py). The rows hold no health detail (store.voicemail.AuditEntry), so
the export is safe to hand to the privacy officer; the export itself writes an "export"
row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dashboard import db
from dashboard.admin.pages import ADMIN, page
from dashboard.roles import role_required
from store.voicemail import AUDIT_ACTIONS, AuditEntry, audit

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

#: At most this many rows on the page (the export has them all).
PAGE_ROWS = 500
CSV_COLUMNS = ("at", "user", "role", "action", "object", "detail")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

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
}

__all__ = ["ACTION_LABELS", "AuditFilter", "bp", "csv_rows"]


@dataclass(frozen=True)
class AuditFilter:
    """The page's filters, read from the query string; a bad value is ignored."""

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

    def query(self, zone: ZoneInfo) -> Select[AuditEntry]:
        """Newest first; ``since`` and ``until`` are whole days in the line's time zone."""
        query = select(AuditEntry)
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.user:
            query = query.where(AuditEntry.user == self.user)
        if self.since:
            query = query.where(AuditEntry.at >= datetime.combine(self.since, time(), zone))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time(), zone)
            query = query.where(AuditEntry.at < end)
        return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())

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
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _zone() -> ZoneInfo:
    return ZoneInfo(db.line_settings().schedule.timezone)


def _cell(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_rows(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [e.at.isoformat(), *(_cell(v) for v in (e.user, e.role, e.action, e.object, e.detail))]
        )
    return out.getvalue()


def _entries(session: Session, wanted: AuditFilter, limit: int | None) -> list[AuditEntry]:
    query = wanted.query(_zone())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


@bp.get("/")
@role_required(ADMIN)
def index() -> Any:
    wanted = AuditFilter.from_args(request.args)
    entries = _entries(db.read_session(), wanted, PAGE_ROWS + 1)
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
        body = csv_rows(_entries(session, wanted, None))
        audit(
            session,
            current_user.username,
            current_user.role,
            "export",
            "audit_log",
            wanted.describe(),
            at=db.now(),
        )
    stamp = db.now().astimezone(_zone()).strftime("%Y%m%d-%H%M")
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
