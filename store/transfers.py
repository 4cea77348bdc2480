"""Transfer records: each fact the listener (or the CEL reconciliation) concludes, once.

Writing is idempotent on the fact's key (INSERT ... ON CONFLICT (key) DO NOTHING, on
SQLite and PostgreSQL alike): the writer's spool may be replayed after a crash, the
listener may see a transfer again after a reconnect, ``ivr211 reconcile`` may find it
in CEL, and the report still counts it once. The first version written wins; a
later fact with the same key never overwrites it.

The local date, hour and fiscal year (April 1 - March 31) are computed here, at write
time, in the line's time zone, so reports group on plain columns. A withheld caller
number (``anonymous``, ``restricted``...: ``ivr.callerid``) is stored as none, whichever
reader concluded the fact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ivr.callerid import caller_number
from ivr.channels import channel_endpoint
from ivr.times import require_utc
from store import models as m
from store.facts import Kind, Outcome, Source, TransferFact
from store.linesettings import line_zone
from store.transfer_rollups import add_transfers

FISCAL_YEAR_START_MONTH = 4
_CHUNK = 500


class TransferStoreError(Exception):
    """Transfer records cannot be written as given."""


def fiscal_year(day: date) -> int:
    """The fiscal year a local date counts in: the calendar year its April 1 falls in.

    2026-03-31 -> 2025 and 2026-04-01 -> 2026 (the annual report of April 2026 - March
    2027 is fiscal year 2026).
    """
    return day.year if day.month >= FISCAL_YEAR_START_MONTH else day.year - 1


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _navigator_ids(session: Session, channels: Collection[str]) -> dict[str, int]:
    endpoints = {channel: channel_endpoint(channel) for channel in channels}
    if not endpoints:
        return {}
    rows = session.execute(
        select(m.Navigator.phone_endpoint, m.Navigator.id).where(
            m.Navigator.phone_endpoint.in_(set(endpoints.values()))
        )
    ).all()
    by_endpoint = {endpoint: nav_id for endpoint, nav_id in rows}
    return {
        channel: by_endpoint[endpoint]
        for channel, endpoint in endpoints.items()
        if endpoint in by_endpoint
    }


def _row(
    fact: TransferFact, zone: ZoneInfo, navigator_id: int | None, now: datetime
) -> dict[str, Any]:
    started = require_utc(fact.started_at, f"fact {fact.key}: started_at")
    ended = (
        None if fact.ended_at is None else require_utc(fact.ended_at, f"fact {fact.key}: ended_at")
    )
    local = started.astimezone(zone)
    return {
        "key": fact.key,
        "kind": Kind(fact.kind).value,
        "outcome": Outcome(fact.outcome).value,
        "started_at": started,
        "ended_at": ended,
        "local_date": local.date(),
        "local_hour": local.hour,
        "fiscal_year": fiscal_year(local.date()),
        "linkedid": fact.linkedid,
        "navigator_id": navigator_id,
        "navigator_channel": fact.navigator_channel,
        "destination": fact.destination,
        "target_exten": fact.target_exten,
        "target_context": fact.target_context,
        "answer_delay_s": fact.answer_delay_s,
        "caller_uniqueid": fact.caller_uniqueid,
        "caller_number": caller_number(fact.caller_number),
        "language": fact.language,
        "path": fact.path,
        "interpreter": fact.interpreter,
        "source": Source(fact.source).value,
        "created_at": now,
    }


_INSERTS: dict[str, Insert] = {}  # dialect name -> the statement, built (and compiled) once


def _insert_ignoring_duplicates(session: Session) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key`` for the session's
    database, one statement for any number of rows: executed with a list of rows, it is
    compiled once and cached, and SQLAlchemy sends the rows in pages of one multi-row
    INSERT each ("insertmanyvalues"), returning the keys really inserted."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS.get(dialect)
    if stmt is not None:
        return stmt
    table = cast(Table, m.TransferRecord.__table__)
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["key"])
    else:
        raise TransferStoreError(f"no idempotent insert for the {dialect} database")
    stmt = stmt.returning(table.c.key)
    _INSERTS[dialect] = stmt
    return stmt


def record_rows(
    session: Session, facts: Sequence[TransferFact], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The ``transfer_records`` rows of ``facts`` (one per fact, in order), as
    :func:`insert_facts` writes them: local date, hour and fiscal year in the line's time
    zone, the navigator's id from the phone, a withheld caller number as none,
    ``created_at`` = ``now``. Reads the line's settings and the navigators; writes
    nothing."""
    created = require_utc(now, "now") if now is not None else datetime.now(UTC)
    zone = line_zone(session)
    navigators = _navigator_ids(session, {f.navigator_channel for f in facts})
    return [_row(fact, zone, navigators.get(fact.navigator_channel), created) for fact in facts]


def insert_facts(
    session: Session, facts: Iterable[TransferFact], *, now: datetime | None = None
) -> set[str]:
    """Insert the facts whose key is not stored yet; return the keys really inserted.

    Runs in the caller's transaction. A key repeated within ``facts`` counts once
    (the first one wins, as it would against a stored row).
    """
    unique: dict[str, TransferFact] = {}
    for fact in facts:
        unique.setdefault(fact.key, fact)
    if not unique:
        return set()
    rows = record_rows(session, list(unique.values()), now=now)
    inserted = set(session.scalars(_insert_ignoring_duplicates(session), rows))
    # Written once, never changed: the roll-ups are added to (store.transfer_rollups).
    add_transfers(session, [row for row in rows if row["key"] in inserted])
    return inserted


def record_facts(
    session: Session, facts: Iterable[TransferFact], *, now: datetime | None = None
) -> int:
    """Insert the facts not stored yet (by key); return how many were new."""
    return len(insert_facts(session, facts, now=now))


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` are already recorded."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(
            session.scalars(select(m.TransferRecord.key).where(m.TransferRecord.key.in_(chunk)))
        )
    return found


def records_between(session: Session, start: datetime, end: datetime) -> list[m.TransferRecord]:
    """Records that started in [start, end), oldest first."""
    lower = require_utc(start, "start")
    upper = require_utc(end, "end")
    return list(
        session.scalars(
            select(m.TransferRecord)
            .where(m.TransferRecord.started_at >= lower, m.TransferRecord.started_at < upper)
            .order_by(m.TransferRecord.started_at, m.TransferRecord.id)
        )
    )


def record_as_dict(record: m.TransferRecord) -> dict[str, Any]:
    """Every column of a record, for tests, exports and the console."""
    return {
        column.key: getattr(record, column.key) for column in m.TransferRecord.__mapper__.columns
    }


def fact_of(record: m.TransferRecord) -> TransferFact:
    """The fact a record was written from (the computed columns dropped)."""
    return TransferFact(
        key=record.key,
        kind=Kind(record.kind),
        outcome=Outcome(record.outcome),
        started_at=record.started_at,
        ended_at=record.ended_at,
        linkedid=record.linkedid,
        navigator_channel=record.navigator_channel,
        destination=record.destination,
        target_exten=record.target_exten,
        target_context=record.target_context,
        answer_delay_s=record.answer_delay_s,
        caller_uniqueid=record.caller_uniqueid,
        caller_number=record.caller_number,
        language=record.language,
        path=record.path,
        interpreter=record.interpreter,
        source=Source(record.source),
    )
