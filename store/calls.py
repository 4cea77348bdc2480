"""Call records: one row per caller's call, completed by every source that saw it.

A call is keyed on the ``linkedid`` of the caller's channel, the one id the FastAGI
server (passed as an argument by the dialplan), the AMI events (``Linkedid``), CEL
(``linkedid``) and the navigators' transfer records all share; queue_log names a call
by the caller channel's ``uniqueid``, which for the caller's own channel is its linkedid.
Each source reports what it saw as a :class:`CallFact`; :func:`record_calls` merges it
into the row, so whichever source comes first, a replay, a reconnect or a reconciliation
never counts a call twice, and a call seen only in part is completed later.

How two facts of one call merge (:func:`merge`, and the same rule in SQL):

* ``arrived_at`` is the earliest time any source saw the call (the local date, hour,
  weekday and fiscal year follow it); ``ended_at`` the latest;
* every other field keeps the first value stored: a source fills only what is still
  unknown. Each source reports only what it knows for certain (the AMI reader says a
  queued caller "abandoned" only once it knows the caller hung up, not on
  ``QueueCallerAbandon``, which Asterisk also sends on a queue timeout), so two sources
  never disagree about a known value;
* ``research_message`` and the ``seen_*`` flags are true once any source says so.

A caller who goes back to the queue after a navigator's transfer (same linkedid) keeps
the figures of their first time in the queue.

Navigator activity (logged in, paused, ringing, on a call, after-call work) is a list of
closed intervals per queue member (:class:`ActivityFact`), written once per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Insert,
    String,
    Table,
    and_,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.callerid import caller_number
from ivr.times import require_utc
from store import models as m
from store.linesettings import line_zone
from store.transfers import fiscal_year

__all__ = [
    "ACTIVITY_STATES",
    "CALL_SOURCES",
    "LANGUAGES",
    "LINE_STATES",
    "QUEUE_OUTCOMES",
    "ROUTES",
    "ActivityFact",
    "CallFact",
    "CallRecord",
    "CallSource",
    "CallStoreError",
    "NavigatorActivity",
    "QueueOutcome",
    "call_as_dict",
    "calls_between",
    "merge",
    "record_activity",
    "record_calls",
]


class CallStoreError(Exception):
    """Call records cannot be written as given."""


class CallSource(StrEnum):
    FLOW = "flow"  # the FastAGI server: the flow's own decisions
    AMI = "ami"  # the listener, following the queue and channel events
    QUEUE_LOG = "queue_log"  # app_queue's log file, read after an AMI drop
    CEL = "cel"  # the CEL rows, including the dialplan's IVR211_CALL user events


class QueueOutcome(StrEnum):
    ANSWERED = "answered"  # a navigator took the call (AgentConnect, CONNECT)
    ABANDONED = "abandoned"  # the caller hung up while waiting (ABANDON)
    TIMEOUT = "timeout"  # the maximum wait passed (QUEUESTATUS TIMEOUT, EXITWITHTIMEOUT)
    CLOSING = "closing"  # the wait ended at closing time (a TIMEOUT cut to closing)
    LEAVEEMPTY = "leaveempty"  # every navigator left while the caller waited (EXITEMPTY)
    JOINEMPTY = "joinempty"  # no navigator logged in: refused at once (no queue event)
    FULL = "full"  # the queue was at maxlen: refused (QUEUESTATUS FULL)


#: The line's state when the call arrived: ``ivr.schedule.LineState.reason``.
LINE_STATES: Final = (
    "hours",
    "after_hours",
    "holiday",
    "closure",
    "override_open",
    "override_closed",
)
LANGUAGES: Final = ("fr", "en", "interpreter", "none")
#: ``ivr.dialplan.Route`` values, and ``fallback``: the FastAGI server did not answer
#: and the dialplan queued the caller on its own.
ROUTES: Final = ("queue", "research", "transfer", "closed", "hangup", "fallback")
QUEUE_OUTCOMES: Final = tuple(o.value for o in QueueOutcome)
CALL_SOURCES: Final = tuple(s.value for s in CallSource)
ACTIVITY_STATES: Final = ("logged_in", "paused", "ringing", "on_call", "after_call_work")


class CallRecord(m.Base):
    """One caller's call (``CallFact`` merged), keyed on the caller channel's linkedid.

    ``local_date``, ``local_hour``, ``local_weekday`` (0 = Monday) and ``fiscal_year``
    are those of ``arrived_at`` in the line's time zone, computed at write time as for
    transfer records. The call's transfers and referrals are the transfer records with
    the same ``linkedid``.
    """

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(m.one_of("line_state", LINE_STATES), name="line_state"),
        CheckConstraint(m.one_of("language", LANGUAGES), name="language"),
        CheckConstraint(m.one_of("route", ROUTES), name="route"),
        CheckConstraint(m.one_of("queue_outcome", QUEUE_OUTCOMES), name="queue_outcome"),
        CheckConstraint("local_hour BETWEEN 0 AND 23", name="local_hour"),
        CheckConstraint("local_weekday BETWEEN 0 AND 6", name="local_weekday"),
        Index("ix_calls_fiscal_year_local_date", "fiscal_year", "local_date"),
        Index("ix_calls_navigator_id_local_date", "navigator_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    caller_uniqueid: Mapped[str | None] = mapped_column(String(64))
    arrived_at: Mapped[datetime] = mapped_column(m.UTCDateTime())
    local_date: Mapped[date] = mapped_column(Date(), index=True)
    local_hour: Mapped[int]
    local_weekday: Mapped[int]
    fiscal_year: Mapped[int]
    ended_at: Mapped[datetime | None] = mapped_column(m.UTCDateTime())
    line_state: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(12))
    path: Mapped[str | None] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(12))
    route_destination: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str | None] = mapped_column(String(80))
    queue_joined_at: Mapped[datetime | None] = mapped_column(m.UTCDateTime())
    queue_position: Mapped[int | None]
    queue_outcome: Mapped[str | None] = mapped_column(String(12))
    queue_left_at: Mapped[datetime | None] = mapped_column(m.UTCDateTime())
    wait_s: Mapped[float | None]
    ring_s: Mapped[float | None]
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL")
    )
    answered_member: Mapped[str | None] = mapped_column(String(200))
    talk_s: Mapped[float | None]
    completed_by: Mapped[str | None] = mapped_column(String(16))
    exit_route: Mapped[str | None] = mapped_column(String(40))
    research_message: Mapped[bool] = mapped_column(default=False)
    caller_number: Mapped[str | None] = mapped_column(
        String(40),
        comment="personal data: for the console and the retention job only, never reports",
    )
    seen_flow: Mapped[bool] = mapped_column(default=False)
    seen_ami: Mapped[bool] = mapped_column(default=False)
    seen_queue_log: Mapped[bool] = mapped_column(default=False)
    seen_cel: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(m.UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(m.UTCDateTime())


class NavigatorActivity(m.Base):
    """One closed interval of a queue member's state (``ActivityFact``), written once.

    ``member`` is the queue member's interface ("PJSIP/nav-alice" or
    "Local/nav2@queue-agents/n"); ``navigator_id`` the navigator whose
    ``queue_interface`` it is, when there is one. ``reason`` is the pause reason.
    """

    __tablename__ = "navigator_activity"
    __table_args__ = (
        CheckConstraint(m.one_of("state", ACTIVITY_STATES), name="state"),
        CheckConstraint("ended_at >= started_at", name="ends_after_start"),
        Index("ix_navigator_activity_navigator_id_local_date", "navigator_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    member: Mapped[str] = mapped_column(String(200))
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(m.UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(m.UTCDateTime())
    local_date: Mapped[date] = mapped_column(Date())
    linkedid: Mapped[str | None] = mapped_column(String(64))  # the call, for ringing / on_call


# ---- facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFact:
    """What one source saw of one call. None = this source does not know.

    ``at`` is when the source saw the call (the arrival for the flow and CEL, the
    queue join for queue events): the record's ``arrived_at`` is the earliest ``at``.
    ``answered_interface`` / ``answered_name`` name the queue member who answered (AMI
    gives both, queue_log only the member's name); the navigator is found by either.
    """

    linkedid: str
    at: datetime
    source: CallSource
    caller_uniqueid: str | None = None
    caller_number: str | None = None
    ended_at: datetime | None = None
    line_state: str | None = None
    language: str | None = None
    path: str | None = None
    route: str | None = None
    route_destination: str | None = None
    queue: str | None = None
    queue_joined_at: datetime | None = None
    queue_position: int | None = None
    queue_outcome: QueueOutcome | None = None
    queue_left_at: datetime | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    answered_interface: str | None = None
    answered_name: str | None = None
    talk_s: float | None = None
    completed_by: str | None = None  # AgentComplete Reason: agent, caller, transfer
    exit_route: str | None = None  # what the queue-exit menu did
    research_message: bool = False

    def __post_init__(self) -> None:
        require_utc(self.at, f"call {self.linkedid}: at")
        for name in ("ended_at", "queue_joined_at", "queue_left_at"):
            value = getattr(self, name)
            if value is not None:
                require_utc(value, f"call {self.linkedid}: {name}")
        _check_value(self, "line_state", LINE_STATES)
        _check_value(self, "language", LANGUAGES)
        _check_value(self, "route", ROUTES)
        _check_value(self, "queue_outcome", QUEUE_OUTCOMES)


def _check_value(fact: CallFact, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(fact, name)
    if value is not None and value not in allowed:
        raise CallStoreError(f"call {fact.linkedid}: {name} {value!r} is not one of {allowed}")


@dataclass(frozen=True)
class ActivityFact:
    """A closed interval of one queue member's state."""

    member: str
    state: str
    started_at: datetime
    ended_at: datetime
    reason: str = ""
    linkedid: str | None = None

    def __post_init__(self) -> None:
        if self.state not in ACTIVITY_STATES:
            raise CallStoreError(f"activity state {self.state!r} is not one of {ACTIVITY_STATES}")
        start = require_utc(self.started_at, "activity started_at")
        if require_utc(self.ended_at, "activity ended_at") < start:
            raise CallStoreError(f"activity of {self.member} ends before it starts")

    @property
    def key(self) -> str:
        """Same member, state and start: the same interval, whoever reports it."""
        return f"{self.member}|{self.state}|{self.started_at.timestamp():.6f}"


# ---- merging ---------------------------------------------------------------------------

_FILLED: Final = tuple(
    f.name
    for f in fields(CallFact)
    if f.name not in {"linkedid", "at", "source", "ended_at", "research_message"}
)


def merge(first: CallFact, second: CallFact) -> CallFact:
    """Two facts of one call as one, by the rule of the module's docstring. The result
    keeps ``first``'s source (``record_calls`` marks every source of a batch as seen)."""
    if first.linkedid != second.linkedid:
        raise CallStoreError(f"cannot merge calls {first.linkedid} and {second.linkedid}")
    changes: dict[str, Any] = {
        name: getattr(second, name)
        for name in _FILLED
        if getattr(first, name) is None and getattr(second, name) is not None
    }
    if second.at < first.at:
        changes["at"] = second.at
    if second.ended_at is not None and (first.ended_at is None or second.ended_at > first.ended_at):
        changes["ended_at"] = second.ended_at
    if second.research_message and not first.research_message:
        changes["research_message"] = True
    return replace(first, **changes) if changes else first


# ---- writing ---------------------------------------------------------------------------

_CHUNK: Final = 400
_SEEN: Final = {source: f"seen_{source.value}" for source in CallSource}
# The record's columns a fact fills as they are (the navigator is resolved apart).
_COPIED: Final = tuple(
    name
    for name in _FILLED
    if name not in {"answered_interface", "answered_name", "caller_number", "queue_outcome"}
)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _navigators(
    session: Session, facts: Iterable[CallFact]
) -> tuple[dict[str, int], dict[str, int]]:
    interfaces = {f.answered_interface for f in facts if f.answered_interface}
    names = {f.answered_name for f in facts if f.answered_name}
    by_interface: dict[str, int] = {}
    by_name: dict[str, int] = {}
    if interfaces:
        by_interface = dict(
            session.execute(
                select(m.Navigator.queue_interface, m.Navigator.id).where(
                    m.Navigator.queue_interface.in_(interfaces)
                )
            ).all()
        )
    if names:
        by_name = dict(
            session.execute(
                select(m.Navigator.display_name, m.Navigator.id).where(
                    m.Navigator.display_name.in_(names)
                )
            ).all()
        )
    return by_interface, by_name


def _local(at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    local = at.astimezone(zone)
    return {
        "local_date": local.date(),
        "local_hour": local.hour,
        "local_weekday": local.weekday(),
        "fiscal_year": fiscal_year(local.date()),
    }


def _row(
    fact: CallFact,
    sources: set[CallSource],
    zone: ZoneInfo,
    navigators: tuple[Mapping[str, int], Mapping[str, int]],
    now: datetime,
) -> dict[str, Any]:
    by_interface, by_name = navigators
    navigator_id = by_interface.get(fact.answered_interface or "") or by_name.get(
        fact.answered_name or ""
    )
    row: dict[str, Any] = {name: getattr(fact, name) for name in _COPIED}
    row.update(
        linkedid=fact.linkedid,
        arrived_at=fact.at,
        **_local(fact.at, zone),
        ended_at=fact.ended_at,
        queue_outcome=None
        if fact.queue_outcome is None
        else QueueOutcome(fact.queue_outcome).value,
        navigator_id=navigator_id,
        answered_member=fact.answered_name or fact.answered_interface,
        caller_number=caller_number(fact.caller_number),
        research_message=fact.research_message,
        created_at=now,
        updated_at=now,
        **{column: source in sources for source, column in _SEEN.items()},
    )
    return row


_UPSERTS: dict[str, Insert] = {}  # dialect name -> the merging insert, built once


def _upsert(session: Session) -> Insert:
    """``INSERT ... ON CONFLICT (linkedid) DO UPDATE ... RETURNING local_date`` for the
    session's database, one statement for any number of rows: executed with a list of
    rows it is compiled once and SQLAlchemy sends the rows in pages of one multi-row
    INSERT each ("insertmanyvalues"), as ``store.transfers`` does; a statement built with
    ``.values(rows)`` is compiled again for every page, which a year of calls pays for."""
    dialect = session.get_bind().dialect.name
    cached = _UPSERTS.get(dialect)
    if cached is not None:
        return cached
    table = cast(Table, CallRecord.__table__)
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise CallStoreError(f"no merging insert for the {dialect} database")
    new, old = stmt.excluded, CallRecord.__table__.c
    earlier = new.arrived_at < old.arrived_at
    updates: dict[str, Any] = {
        name: func.coalesce(old[name], new[name])
        for name in (*_COPIED, "queue_outcome", "navigator_id", "answered_member", "caller_number")
    }
    for name in ("arrived_at", "local_date", "local_hour", "local_weekday", "fiscal_year"):
        updates[name] = case((earlier, new[name]), else_=old[name])
    updates["ended_at"] = case(
        (
            and_(
                new.ended_at.is_not(None), or_(old.ended_at.is_(None), new.ended_at > old.ended_at)
            ),
            new.ended_at,
        ),
        else_=old.ended_at,
    )
    for name in ("research_message", *_SEEN.values()):
        updates[name] = or_(old[name], new[name])
    updates["updated_at"] = new.updated_at
    result: Insert = stmt.on_conflict_do_update(index_elements=["linkedid"], set_=updates)
    result = result.returning(table.c.local_date)
    _UPSERTS[dialect] = result
    return result


def record_calls(
    session: Session, facts: Iterable[CallFact], *, now: datetime | None = None
) -> int:
    """Merge ``facts`` into the call records (creating the calls not seen yet), in the
    caller's transaction; return how many distinct calls were written."""
    merged: dict[str, CallFact] = {}
    sources: dict[str, set[CallSource]] = {}
    for fact in facts:
        known = merged.get(fact.linkedid)
        merged[fact.linkedid] = fact if known is None else merge(known, fact)
        sources.setdefault(fact.linkedid, set()).add(CallSource(fact.source))
    if not merged:
        return 0
    stamp = require_utc(now, "now") if now is not None else datetime.now(UTC)
    zone = line_zone(session)
    navigators = _navigators(session, merged.values())
    rows = [
        _row(fact, sources[linkedid], zone, navigators, stamp) for linkedid, fact in merged.items()
    ]
    # The roll-ups of the days these calls were on before and are on after (store.rollups).
    from store import rollups  # here: store.rollups reads this module's tables

    rollups.lock_call_writes(session)
    days: set[date] = set()
    for chunk in _chunks(rows):
        linkedids = [row["linkedid"] for row in chunk]
        days.update(
            session.scalars(select(CallRecord.local_date).where(CallRecord.linkedid.in_(linkedids)))
        )
        days.update(session.scalars(_upsert(session), list(chunk)))
    rollups.refresh_call_days(session, days)
    return len(rows)


_ACTIVITY_INSERTS: dict[str, Insert] = {}  # dialect name -> the statement, built once


def _activity_insert(session: Session) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key``, compiled once and
    executed with a list of rows (see :func:`_upsert`)."""
    dialect = session.get_bind().dialect.name
    cached = _ACTIVITY_INSERTS.get(dialect)
    if cached is not None:
        return cached
    table = cast(Table, NavigatorActivity.__table__)
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise CallStoreError(f"no idempotent insert for the {dialect} database")
    result: Insert = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    _ACTIVITY_INSERTS[dialect] = result
    return result


def record_activity(session: Session, facts: Iterable[ActivityFact]) -> int:
    """Insert the intervals not stored yet (by key); return how many were new."""
    unique: dict[str, ActivityFact] = {}
    for fact in facts:
        unique.setdefault(fact.key, fact)
    if not unique:
        return 0
    zone = line_zone(session)
    members = {f.member for f in unique.values()}
    by_interface = dict(
        session.execute(
            select(m.Navigator.queue_interface, m.Navigator.id).where(
                m.Navigator.queue_interface.in_(members)
            )
        ).all()
    )
    rows = [
        {
            "key": key,
            "member": fact.member,
            "navigator_id": by_interface.get(fact.member),
            "state": fact.state,
            "reason": fact.reason,
            "started_at": fact.started_at,
            "ended_at": fact.ended_at,
            "local_date": fact.started_at.astimezone(zone).date(),
            "linkedid": fact.linkedid,
        }
        for key, fact in unique.items()
    ]
    stmt = _activity_insert(session)
    inserted = 0
    for chunk in _chunks(rows):
        new_keys = set(session.scalars(stmt, list(chunk)))
        inserted += len(new_keys)
        # Intervals never change once written: the roll-up is added to (store.rollups).
        from store import rollups  # here: store.rollups reads this module's tables

        rollups.add_activity(
            session,
            [
                (r["navigator_id"], r["state"], r["started_at"], r["ended_at"])
                for r in chunk
                if r["key"] in new_keys
            ],
        )
    return inserted


# ---- reading ---------------------------------------------------------------------------


def calls_between(session: Session, start: datetime, end: datetime) -> list[CallRecord]:
    """Calls that arrived in [start, end), oldest first."""
    lower = require_utc(start, "start")
    upper = require_utc(end, "end")
    return list(
        session.scalars(
            select(CallRecord)
            .where(CallRecord.arrived_at >= lower, CallRecord.arrived_at < upper)
            .order_by(CallRecord.arrived_at, CallRecord.id)
        )
    )


def call_as_dict(record: CallRecord) -> dict[str, Any]:
    """Every column of a call record, for tests and exports."""
    return {column.key: getattr(record, column.key) for column in CallRecord.__mapper__.columns}
