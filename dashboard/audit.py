"""The audit log of personal-data access, for administrators: a page and a CSV export.

Administrators see who listed, played, downloaded, annotated, deleted, exported or purged
what and when — never the messages themselves (those are the research role's, see
dashboard/research.py). The rows hold no health detail (store.voicemail.AuditEntry), so
the export is safe to hand to the privacy officer; the export itself writes an "export"
row.

The page says each row in words ("Listened to the message of Dec 4, 2026, 2:02 p.m.
from 418 555-0177", :func:`describe`); the row as stored (``voice_message:1``,
``status=all``) stays in the CSV export. A page or a message someone logged in was
refused (403) writes a "refused" row (:func:`record_refused`).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from flask_babel import format_date, format_time, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from dashboard import db
from dashboard.admin.pages import ADMIN, page
from dashboard.research import STATUS_LABELS
from dashboard.roles import current_role, role_label, role_required
from ivr.phone import format_phone
from store import csvfile
from store.voicemail import (
    AUDIT_ACTIONS,
    AuditEntry,
    VoiceMessage,
    audit,
    audit_entries,
    messages_by_ids,
)

log = logging.getLogger(__name__)


def _(text: str, **values: Any) -> str:
    """``gettext``, typed: the sentences below are built from its text."""
    return str(gettext(text, **values))


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
    "refused": _l("accès refusé"),
}

#: What one does to a message, said of it: "%(message)s" is "le message du ... de ...".
MESSAGE_SENTENCES: dict[str, Any] = {
    "view": _l("A ouvert %(message)s."),
    "play": _l("A écouté %(message)s."),
    "download": _l("A téléchargé %(message)s."),
    "delete": _l("A effacé %(message)s."),
    "note": _l("A écrit une note sur %(message)s."),
}
#: The dashboard's sections, by the first part of a page's path (a refused access).
SECTION_WORDS: dict[str, Any] = {
    "research": _l("une page de la boîte vocale de recherche"),
    "admin": _l("une page de l'administration"),
    "console": _l("la console des navigateurs"),
    "reports": _l("une page des rapports"),
    "status": _l("la page de l'état du service"),
    "wallboard": _l("le tableau mural"),
}
_MESSAGE_PATH = re.compile(r"^/research/messages/(\d{1,10})(?:/|$)")
_MESSAGE_OBJECT = re.compile(r"^voice_message:(\d{1,10})$")

__all__ = [
    "ACTION_LABELS",
    "AuditFilter",
    "AuditLine",
    "bp",
    "csv_rows",
    "describe",
    "record_refused",
]


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


# ---- the rows in words -------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLine:
    """One audit row as the page shows it: the sentence, and the row as stored (the
    technical detail line)."""

    entry: AuditEntry
    sentence: str
    stored: str


def _message_id(entry: AuditEntry) -> int | None:
    found = _MESSAGE_OBJECT.match(entry.object)
    if found is None and entry.action == "refused":
        found = _MESSAGE_PATH.match(entry.object.removeprefix("page:"))
    return int(found.group(1)) if found else None


def _when(at: datetime) -> str:
    return f"{format_date(at, 'medium')}, {format_time(at, 'short')}"


def _message_words(message: VoiceMessage | None) -> str:
    if message is None:
        return _("un message qui n'existe pas")
    number = message.callback_number or message.caller_number
    if number:
        return _(
            "le message du %(when)s de %(number)s",
            when=_when(message.received_at),
            number=format_phone(number),
        )
    if message.deleted_at is not None:
        return _("le message du %(when)s (effacé)", when=_when(message.received_at))
    return _("le message du %(when)s (numéro masqué)", when=_when(message.received_at))


def _status_words(value: str) -> str:
    label = STATUS_LABELS.get(value.strip())
    return str(label) if label is not None else value.strip()


def _filters_words(detail: str) -> str:
    """The export's filters ("action=play user=lea since=2026-12-01") in words."""
    words = {
        "action": _("action"),
        "user": _("utilisateur"),
        "since": _("du"),
        "until": _("au"),
    }
    parts = []
    for item in detail.split():
        name, sep, value = item.partition("=")
        if not sep or name not in words:
            continue
        if name == "action":
            value = str(ACTION_LABELS.get(value, value))
        parts.append(
            f"{words[name]} : {value}" if name in ("action", "user") else f"{words[name]} {value}"
        )
    return ", ".join(parts)


_ACCOUNT_KINDS: dict[str, Any] = {
    "password reset": _l("A réinitialisé le mot de passe du compte de recherche « %(account)s »."),
    "created": _l("A créé le compte de recherche « %(account)s »."),
}


def _account_words(entry: AuditEntry) -> str:
    account = entry.object.removeprefix("user:")
    kind, _sep, change = entry.detail.partition(": ")
    if kind == "roles changed":
        before, _arrow, after = change.partition(" -> ")
        return _(
            "A changé les rôles du compte « %(account)s » : %(before)s → %(after)s.",
            account=account,
            before=role_label(before),
            after=role_label(after),
        )
    sentence = _ACCOUNT_KINDS.get(entry.detail)
    if sentence is None:
        return _("A changé le compte « %(account)s ».", account=account)
    return str(sentence) % {"account": account}


def _sentence(entry: AuditEntry, message: VoiceMessage | None) -> str | None:
    action, obj, detail = entry.action, entry.object, entry.detail
    if action in MESSAGE_SENTENCES and _message_id(entry) is not None:
        return str(MESSAGE_SENTENCES[action]) % {"message": _message_words(message)}
    if action == "status" and _message_id(entry) is not None:
        before, _arrow, after = detail.partition("->")
        return _(
            "A fait passer %(message)s de « %(before)s » à « %(after)s ».",
            message=_message_words(message),
            before=_status_words(before),
            after=_status_words(after),
        )
    if action == "list" and obj == "voice_messages":
        status = detail.removeprefix("status=")
        if status in ("", "all"):
            return _("A consulté la liste des messages de recherche.")
        return _(
            "A consulté la liste des messages de recherche à l'état « %(status)s ».",
            status=_status_words(status),
        )
    if action == "purge" and _message_id(entry) is not None:
        return _(
            "Durée de conservation écoulée : %(message)s a été effacé.",
            message=_message_words(message),
        )
    if action == "purge":
        return _("Durée de conservation écoulée : des renseignements ont été effacés.")
    if action == "export" and obj == "audit_log":
        filters = _filters_words(detail)
        if filters:
            return _("A exporté le journal d'accès (%(filters)s).", filters=filters)
        return _("A exporté le journal d'accès au complet.")
    if action == "export" and obj.startswith("caller:"):
        return _(
            "A exporté les données d'un appelant (numéro se terminant par %(digits)s).",
            digits=obj.removeprefix("caller:").lstrip("…"),
        )
    if action == "account" and obj.startswith("user:"):
        return _account_words(entry)
    if action == "ingest":
        return _("Un message est arrivé dans la boîte vocale de recherche.")
    if action == "refused":
        if _message_id(entry) is not None:
            return _("Accès refusé : %(message)s.", message=_message_words(message))
        section = obj.removeprefix("page:").strip("/").split("/")[0]
        where = SECTION_WORDS.get(section)
        if where is not None:
            return _("Accès refusé : %(page)s.", page=where)
        return _("Accès refusé : une page.")
    return None


def describe(session: Session, entries: list[AuditEntry]) -> list[AuditLine]:
    """The rows in words, with the messages they name read in one query."""
    ids = {i for i in (_message_id(e) for e in entries) if i is not None}
    messages = messages_by_ids(session, ids)
    lines = []
    for e in entries:
        message_id = _message_id(e)
        message = messages.get(message_id) if message_id is not None else None
        sentence = _sentence(e, message)
        stored = " · ".join(part for part in (e.object, e.detail) if part)
        if sentence is None:
            sentence = f"{ACTION_LABELS.get(e.action, e.action)} : {stored}"
        lines.append(AuditLine(e, sentence, stored))
    return lines


def record_refused() -> None:
    """Write a "refused" row for the user logged in who was just refused (403): the
    page's path (a message's page names the message). Called by the 403 error page; a
    database that cannot take it is logged, and the 403 is answered all the same."""
    if not current_user.is_authenticated:
        return
    try:
        with db.write() as session:
            audit(
                session,
                current_user.username,
                current_role() or "",
                "refused",
                f"page:{request.path}"[:300],
                request.method,
                at=db.now(),
            )
    except SQLAlchemyError:
        log.exception("refused access of %s to %s not audited", current_user.username, request.path)


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
    session = db.read_session()
    entries = wanted.entries(session, db.line_settings().zone, PAGE_ROWS + 1)
    return page(
        "audit/index.html",
        lines=describe(session, entries[:PAGE_ROWS]),
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
            ADMIN,
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
