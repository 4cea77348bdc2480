"""The research voicemail box (issue 5): messages, notes on them, and the audit log.

A message is recorded by Asterisk's app_voicemail in its spool, picked up by the ingester
(:mod:`research.ingest`), copied to a storage folder the research team controls and written
here, and only then removed from the spool. ``msg_id`` is app_voicemail's own message id
(``msg_id=1795879141-00000000`` in ``msg0000.txt``) and is unique: whatever happens
between the copy and the spool deletion, a second sweep finds the row and never makes a
double.

Messages are sensitive health information (Loi 25): only the research role reads them, and
every list, play, download, deletion, note, status change, export and purge writes one
:class:`AuditEntry` (:func:`audit`). A deleted message keeps a tombstone row (``deleted_at``
set, personal fields emptied, audio removed) so that its ``msg_id`` is never ingested twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from store.models import Base, UTCDateTime, one_of

__all__ = [
    "AUDIT_ACTIONS",
    "MESSAGE_STATUSES",
    "AuditEntry",
    "VoiceMessage",
    "VoiceNote",
    "add_message",
    "audit",
    "list_messages",
    "message_by_msg_id",
    "messages_by_ids",
]

#: The largest id a row can have: ``integer`` on PostgreSQL, the narrower database.
MAX_ROW_ID = 2**31 - 1
MESSAGE_STATUSES: tuple[str, ...] = ("new", "in_progress", "called_back", "closed")
AUDIT_ACTIONS: tuple[str, ...] = (
    "list",
    "view",
    "play",
    "download",
    "delete",
    "note",
    "status",
    "export",
    "purge",
    "ingest",
    "login",
    "account",
    "refused",
)


class VoiceMessage(Base):
    """One message of the research box, as recorded by app_voicemail.

    ``received_at`` is the spool's ``origtime``; ``caller_number`` comes from its
    ``callerid`` (None when withheld), ``language`` and ``callback_number`` from its
    ``category`` (the dialplan sets ``VM_CATEGORY``). ``audio_path`` is relative to the
    storage folder; ``checksum`` is the SHA-256 of the audio, checked after the copy.
    """

    __tablename__ = "voice_messages"
    __table_args__ = (
        CheckConstraint(one_of("status", MESSAGE_STATUSES), name="status"),
        CheckConstraint("duration_s >= 0", name="duration_s"),
        CheckConstraint("size >= 0", name="size"),
        Index("ix_voice_messages_status_received_at", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    mailbox: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    duration_s: Mapped[int]
    caller_name: Mapped[str | None] = mapped_column(
        String(200), comment="personal data: purged with the message"
    )
    caller_number: Mapped[str | None] = mapped_column(
        String(40), comment="personal data: purged with the message"
    )
    callback_number: Mapped[str | None] = mapped_column(
        String(40), comment="personal data: purged with the message"
    )
    language: Mapped[str | None] = mapped_column(String(8))
    checksum: Mapped[str] = mapped_column(String(64))
    audio_path: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="new")
    handled_by: Mapped[str | None] = mapped_column(String(100))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notes: Mapped[list[VoiceNote]] = relationship(
        back_populates="message",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="VoiceNote.at",
    )


class VoiceNote(Base):
    """A note a member of the research team wrote on a message (kept in order)."""

    __tablename__ = "voice_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("voice_messages.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text())

    message: Mapped[VoiceMessage] = relationship(back_populates="notes")


class AuditEntry(Base):
    """Who did what to which personal data, and when; admins read and export these.

    ``object`` names the thing acted on ("voice_message:12", "transfer_records",
    "file:/var/log/asterisk/cdr-csv/Master.csv"); ``detail`` never holds health details.
    ``user`` is "system" for the retention job and the ingester.
    """

    __tablename__ = "audit_log"
    __table_args__ = (CheckConstraint(one_of("action", AUDIT_ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    object: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text(), default="")


def audit(
    session: Session,
    user: str,
    role: str,
    action: str,
    object: str,
    detail: str = "",
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit row to ``session`` (committed with the action it records)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        user=user,
        role=role,
        action=action,
        object=object,
        detail=detail,
    )
    session.add(entry)
    return entry


def add_message(
    session: Session,
    *,
    msg_id: str,
    mailbox: str,
    received_at: datetime,
    duration_s: int,
    caller_name: str | None,
    caller_number: str | None,
    callback_number: str | None,
    language: str | None,
    checksum: str,
    audio_path: str,
    size: int,
    ingested_at: datetime,
) -> VoiceMessage:
    """Record a new message (status "new"); flushed, so its ``id`` is known. A ``msg_id``
    already recorded raises ``IntegrityError`` at the flush."""
    message = VoiceMessage(
        msg_id=msg_id,
        mailbox=mailbox,
        received_at=received_at,
        duration_s=duration_s,
        caller_name=caller_name,
        caller_number=caller_number,
        callback_number=callback_number,
        language=language,
        checksum=checksum,
        audio_path=audio_path,
        size=size,
        status="new",
        ingested_at=ingested_at,
    )
    session.add(message)
    session.flush()
    return message


def message_by_msg_id(session: Session, msg_id: str) -> VoiceMessage | None:
    return session.scalar(select(VoiceMessage).where(VoiceMessage.msg_id == msg_id))


def list_messages(session: Session, status: str | None = None) -> list[VoiceMessage]:
    """Messages not deleted, newest first, optionally with one status."""
    query = select(VoiceMessage).where(VoiceMessage.deleted_at.is_(None))
    if status is not None:
        query = query.where(VoiceMessage.status == status)
    return list(session.scalars(query.order_by(VoiceMessage.received_at.desc())))


# ---- the research inbox and the audit log, as the dashboard reads and changes them ----


def live_message(session: Session, message_id: int, *, lock: bool = False) -> VoiceMessage | None:
    """The message, unless deleted. ``lock`` holds its row until the transaction ends
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction is already
    exclusive), so two requests acting on it take turns. An id no row can have (beyond
    PostgreSQL's ``integer``, which SQLite's driver cannot even bind past 2**63 - 1) is
    None, never a database error."""
    if not 0 < message_id <= MAX_ROW_ID:
        return None
    query = select(VoiceMessage).where(
        VoiceMessage.id == message_id, VoiceMessage.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def has_audit_entry(session: Session, action: str, object: str, detail: str) -> bool:
    """Whether an audit row with exactly this action, object and detail exists (a play
    link already used writes no second "play" row)."""
    found = session.scalar(
        select(AuditEntry.id)
        .where(AuditEntry.action == action, AuditEntry.object == object)
        .where(AuditEntry.detail == detail)
        .limit(1)
    )
    return found is not None


def handle_message(session: Session, message: VoiceMessage, by: str, at: datetime) -> None:
    """``by`` handled the message at ``at`` (a status change, a note, a deletion)."""
    message.handled_by = by
    message.handled_at = at
    session.flush()


def set_message_status(
    session: Session, message: VoiceMessage, status: str, by: str, at: datetime
) -> str:
    """Move the message to ``status``; returns the status it had."""
    if status not in MESSAGE_STATUSES:
        raise ValueError(f"unknown message status {status!r}")
    before = message.status
    message.status = status
    handle_message(session, message, by, at)
    return before


def add_message_note(
    session: Session, message: VoiceMessage, author: str, text: str, at: datetime
) -> None:
    """A note on the message; a new message is then in progress."""
    session.add(VoiceNote(message_id=message.id, author=author, at=at, text=text))
    if message.status == "new":
        message.status = "in_progress"
    handle_message(session, message, author, at)


def erase_message(session: Session, message: VoiceMessage, by: str, at: datetime) -> str | None:
    """Erase the notes and the personal fields and mark the message deleted; the row stays
    as a tombstone so that its ``msg_id`` is never ingested again. Returns the audio's
    path (relative to the storage folder), which the caller removes."""
    audio = message.audio_path
    message.notes.clear()
    message.caller_name = None
    message.caller_number = None
    message.callback_number = None
    message.audio_path = None
    message.deleted_at = at
    handle_message(session, message, by, at)
    return audio


def audit_entries(
    session: Session,
    *,
    action: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Audit rows, newest first: of one ``action`` and one ``user`` when given, at or after
    ``since`` and before ``before``; at most ``limit``."""
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    if user:
        query = query.where(AuditEntry.user == user)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before is not None:
        query = query.where(AuditEntry.at < before)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def messages_by_ids(session: Session, ids: set[int]) -> dict[int, VoiceMessage]:
    """The messages of ``ids`` (deleted ones too: a tombstone keeps its date), by id; an
    id no row can have is left out. The audit log names the messages its rows touch."""
    wanted = [i for i in ids if 0 < i <= MAX_ROW_ID]
    if not wanted:
        return {}
    rows = session.scalars(select(VoiceMessage).where(VoiceMessage.id.in_(wanted)))
    return {m.id: m for m in rows}
