"""The database side of retention and of one caller's export (Loi 25, P-39.1).

``ivr211.retention`` decides what is due and handles the files (the research audio, the
PBX host's CSV and logs); the rows are read and changed here. Every purge and export
writes one audit row (user "system" for the retention job).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.orm import Session

from store.calls import CallRecord
from store.models import TransferRecord
from store.twilio_calls import TwilioCall
from store.voicemail import VoiceMessage, VoiceNote, audit

__all__ = [
    "SYSTEM_ROLE",
    "SYSTEM_USER",
    "caller_data",
    "digits",
    "messages_due",
    "purge_message",
    "purge_transfer_numbers",
    "record_cloud_purge",
    "record_file_purge",
    "same_number",
]

SYSTEM_USER = "system"
SYSTEM_ROLE = "system"


def digits(number: str) -> str:
    """The number's digits, without the North American ``1`` before ten digits."""
    found = "".join(ch for ch in number if ch.isdigit())
    return found[1:] if len(found) == 11 and found.startswith("1") else found


def same_number(a: str | None, b: str) -> bool:
    """``+1 418-555-0100``, ``14185550100`` and ``4185550100`` are one number."""
    return a is not None and bool(digits(b)) and digits(a) == digits(b)


# ---- retention ---------------------------------------------------------------------------


def messages_due(session: Session, cutoff: datetime) -> list[VoiceMessage]:
    """Messages not yet purged that were received before ``cutoff``, oldest first."""
    return list(
        session.scalars(
            select(VoiceMessage)
            .where(VoiceMessage.deleted_at.is_(None), VoiceMessage.received_at < cutoff)
            .order_by(VoiceMessage.received_at)
        )
    )


def purge_message(session: Session, message: VoiceMessage, days: int, now: datetime) -> None:
    """Make ``message`` a tombstone (personal fields and notes emptied, ``deleted_at``
    set, ``msg_id`` kept so the ingester never takes it twice) and audit it; the caller
    removed its audio first and commits."""
    received = message.received_at
    message.caller_name = None
    message.caller_number = None
    message.callback_number = None
    message.audio_path = None
    message.deleted_at = now
    session.execute(delete(VoiceNote).where(VoiceNote.message_id == message.id))
    audit(
        session,
        SYSTEM_USER,
        SYSTEM_ROLE,
        "purge",
        f"voice_message:{message.id}",
        f"retention {days} days: received {received:%Y-%m-%d}; audio, numbers and notes removed",
        at=now,
    )


def _purge_numbers(
    session: Session,
    model: type[TransferRecord] | type[CallRecord],
    started: Any,
    label: str,
    cutoff: datetime,
    now: datetime,
    dry_run: bool,
) -> int:
    due = (model.caller_number.is_not(None), started < cutoff)
    ids = list(session.scalars(select(model.id).where(*due)))
    if dry_run or not ids:
        return len(ids)
    session.execute(update(model).where(model.id.in_(ids)).values(caller_number=None))
    audit(
        session,
        SYSTEM_USER,
        SYSTEM_ROLE,
        "purge",
        model.__tablename__,
        f"caller_number emptied on {len(ids)} {label} before {cutoff:%Y-%m-%d %H:%M} UTC",
        at=now,
    )
    session.commit()
    return len(ids)


def purge_transfer_numbers(
    session: Session, cutoff: datetime, now: datetime, *, dry_run: bool
) -> int:
    """Empty the caller number of transfer records started before ``cutoff`` (the records
    stay for the report); commits and audits once. Returns how many (would) change."""
    return _purge_numbers(
        session,
        TransferRecord,
        TransferRecord.started_at,
        "records started",
        cutoff,
        now,
        dry_run,
    )


def purge_call_numbers(session: Session, cutoff: datetime, now: datetime, *, dry_run: bool) -> int:
    """Empty the caller number of call records of calls that arrived before ``cutoff``
    (the records stay for the reports); commits and audits once."""
    return _purge_numbers(
        session, CallRecord, CallRecord.arrived_at, "calls arrived", cutoff, now, dry_run
    )


def record_file_purge(session: Session, path: str, detail: str, now: datetime) -> None:
    """Audit the rewrite of one file of the PBX host (``detail`` says what went)."""
    audit(session, SYSTEM_USER, SYSTEM_ROLE, "purge", f"file:{path}", detail, at=now)


def record_cloud_purge(session: Session, detail: str, now: datetime) -> None:
    """Audit what was deleted from the Twilio account (``detail`` says what went)."""
    audit(session, SYSTEM_USER, SYSTEM_ROLE, "purge", "twilio", detail, at=now)


# ---- one caller's data -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _columns(row: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {
        attr.key: _plain(getattr(row, attr.key))
        for attr in inspect(type(row)).column_attrs
        if attr.key not in skip
    }


def caller_data(
    session: Session, number: str, *, user: str, role: str, now: datetime
) -> dict[str, Any]:
    """Everything held about the caller of ``number`` as plain JSON-able data, and one
    audit row (the number masked to its last four digits); the caller commits.

    Messages give their metadata and notes (the audio file's name and checksum, not the
    audio); transfer records give every column; so do the Twilio back end's call states
    still held (the caller's number, or the callback number typed).
    """
    messages = [
        m
        for m in session.scalars(select(VoiceMessage).order_by(VoiceMessage.received_at))
        if same_number(m.caller_number, number) or same_number(m.callback_number, number)
    ]
    transfers = [
        t
        for t in session.scalars(
            select(TransferRecord)
            .where(TransferRecord.caller_number.is_not(None))
            .order_by(TransferRecord.started_at)
        )
        if same_number(t.caller_number, number)
    ]
    calls = [
        c
        for c in session.scalars(
            select(CallRecord)
            .where(CallRecord.caller_number.is_not(None))
            .order_by(CallRecord.arrived_at)
        )
        if same_number(c.caller_number, number)
    ]
    twilio = [
        t
        for t in session.scalars(select(TwilioCall).order_by(TwilioCall.arrived_at))
        if same_number(t.caller_number, number)
        or same_number((t.decision_data() or {}).get("callback"), number)
    ]
    data: dict[str, Any] = {
        "exported_at": _plain(now),
        "number": number,
        "voice_messages": [
            {
                **_columns(m),
                "notes": [
                    {"author": n.author, "at": _plain(n.at), "text": n.text} for n in m.notes
                ],
            }
            for m in messages
        ],
        "transfer_records": [_columns(t, skip=("key",)) for t in transfers],
        "calls": [_columns(c, skip=("linkedid", "caller_uniqueid")) for c in calls],
        # The Twilio back end's state of calls not yet purged (store.twilio_calls).
        "twilio_calls": [_columns(t, skip=("call_sid",)) for t in twilio],
    }
    audit(
        session,
        user,
        role,
        "export",
        f"caller:…{digits(number)[-4:]}",
        f"{len(messages)} messages, {len(transfers)} transfer records, {len(calls)} calls"
        + (f", {len(twilio)} Twilio calls" if twilio else ""),
        at=now,
    )
    return data
