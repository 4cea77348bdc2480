"""Daily roll-ups of the call records and hourly roll-ups of navigator activity, so the
call reports of a year read a few thousand rows instead of millions of calls.

Call roll-ups are recomputed per touched day: when ``record_calls`` writes calls, the
days those calls were on before the write and the days they are on after it are summed
again from the ``calls`` table, in the same transaction (:func:`refresh_call_days`). A
day's roll-up is therefore, by construction, the aggregate of that day's calls: a later
source completing a call (an outcome filled, an arrival moved earlier across midnight
or into the previous fiscal year) cannot leave it out of date, and nothing repeats the
merge rule of ``store.calls`` in a second, incremental form. A day holds a few hundred
calls, so summing it again costs a few milliseconds. On PostgreSQL the writers of
calls take one transaction-level advisory lock first (:func:`lock_call_writes`), so
the days a call was on are read only after any other writer of the same call has
committed, and two refreshes of one day never interleave; SQLite has one writer at a
time anyway.

Activity intervals are written once and never change, so their roll-up is added to as
they are inserted (:func:`add_activity`): each interval is split at the line's local
hours and its seconds added to (local date, hour, navigator, state).

The same aggregates read from the raw tables (:func:`call_aggregate`,
:func:`activity_pieces`) feed the refresh, ``ivr211 calls rebuild-rollups``
(:func:`rebuild`), the reports' ``raw=True`` mode and the benchmark.

Wait buckets are whole seconds: answered calls by their wait rounded up (so "answered
within 30 s", with a whole-second threshold, is exact), abandoned calls by their wait
rounded down (so "abandoned before 5 s" is exact). Asterisk counts waits in whole seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Double,
    Index,
    Select,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store import models as m
from store.calls import CallRecord, NavigatorActivity
from store.linesettings import line_zone
from store.rows import count_where, insert_or_add, whole_number
from store.transfer_rollups import TRANSFER_ROLLUPS, rebuild_transfers

__all__ = [
    "BLOCKED_OUTCOMES",
    "CLOSED_STATES",
    "ENTERED_OUTCOMES",
    "EVERY_ROLLUP",
    "MONTHLY",
    "ActivityMonthRollup",
    "ActivityRollup",
    "CallHourMonthRollup",
    "CallHourRollup",
    "CallNavigatorMonthRollup",
    "CallNavigatorRollup",
    "CallPathMonthRollup",
    "CallPathRollup",
    "CallWaitMonthRollup",
    "CallWaitRollup",
    "activity_pieces",
    "add_activity",
    "call_aggregate",
    "lock_call_writes",
    "month_end",
    "month_of",
    "rebuild",
    "refresh_call_days",
    "refresh_months",
]

#: The line's states in which it was closed to callers.
CLOSED_STATES: Final = ("after_hours", "holiday", "closure", "override_closed")
#: Queue outcomes of callers the queue refused: they never waited.
BLOCKED_OUTCOMES: Final = ("full", "joinempty")
#: Queue outcomes of callers who waited in the queue.
ENTERED_OUTCOMES: Final = ("answered", "abandoned", "timeout", "closing", "leaveempty")
ANSWERED: Final = "answered"
ABANDONED: Final = "abandoned"
#: Two constant ints naming the advisory lock of call writers on PostgreSQL.
_LOCK_KEY: Final = (211, 11)
_DAYS_CHUNK: Final = 200


class CallHourRollup(m.Base):
    """Calls per local date, hour and language ("" when no source knew it)."""

    __tablename__ = "call_hour_rollups"
    # The staffing's days with queue calls per hour, read from the index alone.
    __table_args__ = (Index("ix_call_hour_rollups_queue", "local_date", "local_hour", "offered"),)

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    local_hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(12), primary_key=True)
    local_weekday: Mapped[int]
    received: Mapped[int]
    closed: Mapped[int]  # the line was closed (CLOSED_STATES)
    fallback: Mapped[int]  # route "fallback": the FastAGI server did not answer
    research: Mapped[int]  # a research message was left
    offered: Mapped[int]  # sent to the queue (any queue outcome, blocked ones included)
    answered: Mapped[int]
    abandoned: Mapped[int]
    timeout: Mapped[int]
    closing: Mapped[int]
    leaveempty: Mapped[int]
    joinempty: Mapped[int]
    full: Mapped[int]
    wait_answered_s: Mapped[float] = mapped_column(Double())  # sum over answered calls
    wait_max_s: Mapped[float | None] = mapped_column(Double())  # over callers who waited
    talk_s: Mapped[float] = mapped_column(Double())  # sum over answered calls


class CallWaitRollup(m.Base):
    """Callers per local date, outcome (answered / abandoned) and whole seconds waited."""

    __tablename__ = "call_wait_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(12), primary_key=True)
    seconds: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    calls: Mapped[int]


class CallPathRollup(m.Base):
    """Calls per local date, line state, menu path and where the flow sent them
    ("" for what no source knew)."""

    __tablename__ = "call_path_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    line_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    route: Mapped[str] = mapped_column(String(12), primary_key=True)
    route_destination: Mapped[str] = mapped_column(String(40), primary_key=True)
    exit_route: Mapped[str] = mapped_column(String(40), primary_key=True)
    calls: Mapped[int]


class CallNavigatorRollup(m.Base):
    """Calls answered per local date and navigator (0: a member with no navigator)."""

    __tablename__ = "call_navigator_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    navigator_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    answered: Mapped[int]
    talk_s: Mapped[float] = mapped_column(Double())


class ActivityRollup(m.Base):
    """Seconds per local date, hour, navigator (0: a member with no navigator) and state."""

    __tablename__ = "activity_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    local_hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    navigator_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    seconds: Mapped[float] = mapped_column(Double())


class CallHourMonthRollup(m.Base):
    """``call_hour_rollups`` summed per month (``local_date`` = its first day) and weekday."""

    __tablename__ = "call_hour_month_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    local_hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(12), primary_key=True)
    local_weekday: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    received: Mapped[int]
    closed: Mapped[int]
    fallback: Mapped[int]
    research: Mapped[int]
    offered: Mapped[int]
    answered: Mapped[int]
    abandoned: Mapped[int]
    timeout: Mapped[int]
    closing: Mapped[int]
    leaveempty: Mapped[int]
    joinempty: Mapped[int]
    full: Mapped[int]
    wait_answered_s: Mapped[float] = mapped_column(Double())
    wait_max_s: Mapped[float | None] = mapped_column(Double())
    talk_s: Mapped[float] = mapped_column(Double())


class CallWaitMonthRollup(m.Base):
    """``call_wait_rollups`` summed per month (``local_date`` = its first day)."""

    __tablename__ = "call_wait_month_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(12), primary_key=True)
    seconds: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    calls: Mapped[int]


class CallPathMonthRollup(m.Base):
    """``call_path_rollups`` summed per month (``local_date`` = its first day)."""

    __tablename__ = "call_path_month_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    line_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    route: Mapped[str] = mapped_column(String(12), primary_key=True)
    route_destination: Mapped[str] = mapped_column(String(40), primary_key=True)
    exit_route: Mapped[str] = mapped_column(String(40), primary_key=True)
    calls: Mapped[int]


class CallNavigatorMonthRollup(m.Base):
    """``call_navigator_rollups`` summed per month (``local_date`` = its first day)."""

    __tablename__ = "call_navigator_month_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    navigator_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    answered: Mapped[int]
    talk_s: Mapped[float] = mapped_column(Double())


class ActivityMonthRollup(m.Base):
    """``activity_rollups`` summed per month (``local_date`` = its first day)."""

    __tablename__ = "activity_month_rollups"

    local_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    local_hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    navigator_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    seconds: Mapped[float] = mapped_column(Double())


#: Each daily roll-up and its monthly sum. A whole month of a period is read from the
#: monthly one (a year: twelve months of rows instead of 365 days of them).
MONTHLY: Final[dict[type[m.Base], type[m.Base]]] = {
    CallHourRollup: CallHourMonthRollup,
    CallWaitRollup: CallWaitMonthRollup,
    CallPathRollup: CallPathMonthRollup,
    CallNavigatorRollup: CallNavigatorMonthRollup,
    ActivityRollup: ActivityMonthRollup,
}
_MAXED: Final = frozenset({"wait_max_s"})


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    following = (
        date(month.year + 1, 1, 1) if month.month == 12 else month.replace(month=month.month + 1)
    )
    return following - timedelta(days=1)


def refresh_months(
    session: Session, models: Iterable[type[m.Base]], months: Iterable[date]
) -> None:
    """Sum the months again from the daily roll-ups ``models``."""
    for month in sorted({month_of(d) for d in months}):
        for daily in models:
            monthly = MONTHLY[daily]
            source: Any = daily.__table__
            target: Any = monthly.__table__
            names = _columns(monthly)
            keys = [c.key for c in target.primary_key.columns if c.key != "local_date"]
            values = []
            for name in names:
                if name == "local_date":
                    values.append(literal(month, Date()).label(name))
                elif name in keys:
                    values.append(source.c[name])
                elif name in _MAXED:
                    values.append(func.max(source.c[name]).label(name))
                else:
                    values.append(func.sum(source.c[name]).label(name))
            query = (
                select(*values)
                .where(source.c.local_date >= month, source.c.local_date <= month_end(month))
                .group_by(*(source.c[k] for k in keys))
            )
            session.execute(delete(target).where(target.c.local_date == month))
            session.execute(insert(target).from_select(names, query))


# ---- the aggregates, from the raw tables -----------------------------------------------

C = CallRecord


def _sum(value: Any, condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0.0)), 0.0)


def _blank(column: Any) -> Any:
    return func.coalesce(column, literal(""))


def call_aggregate(table: str, dialect: str, where: ColumnElement[bool]) -> Select[Any]:
    """The roll-up rows of ``table`` computed from the calls matching ``where``, each
    column labelled as the roll-up table's."""
    outcome = C.queue_outcome
    answered = outcome == ANSWERED
    values: list[Any]
    if table == CallHourRollup.__tablename__:
        model: type[m.Base] = CallHourRollup
        language = _blank(C.language)
        keys: tuple[Any, ...] = (C.local_date, C.local_hour, language)
        values = [
            *keys,
            func.min(C.local_weekday),
            func.count(),
            count_where(C.line_state.in_(CLOSED_STATES)),
            count_where(C.route == "fallback"),
            count_where(C.research_message),
            count_where(outcome.is_not(None)),
            *(count_where(outcome == name) for name in _ROLLED_OUTCOMES),
            _sum(C.wait_s, and_(answered, C.wait_s.is_not(None))),
            func.max(case((outcome.in_(ENTERED_OUTCOMES), C.wait_s))),
            _sum(C.talk_s, and_(answered, C.talk_s.is_not(None))),
        ]
    elif table == CallWaitRollup.__tablename__:
        model = CallWaitRollup
        seconds = case(
            (answered, whole_number(dialect, C.wait_s, up=True)),
            else_=whole_number(dialect, C.wait_s, up=False),
        )
        keys = (C.local_date, outcome, seconds)
        values = [*keys, func.count()]
        where = and_(where, outcome.in_((ANSWERED, ABANDONED)), C.wait_s.is_not(None))
    elif table == CallPathRollup.__tablename__:
        model = CallPathRollup
        keys = (
            C.local_date,
            _blank(C.line_state),
            _blank(C.path),
            _blank(C.route),
            _blank(C.route_destination),
            _blank(C.exit_route),
        )
        values = [*keys, func.count()]
    elif table == CallNavigatorRollup.__tablename__:
        model = CallNavigatorRollup
        keys = (C.local_date, func.coalesce(C.navigator_id, 0))
        values = [*keys, func.count(), func.coalesce(func.sum(func.coalesce(C.talk_s, 0.0)), 0.0)]
        where = and_(where, answered)
    else:
        raise ValueError(f"no call roll-up named {table!r}")
    labelled = [value.label(name) for value, name in zip(values, _columns(model), strict=True)]
    return select(*labelled).where(where).group_by(*keys)


_ROLLED_OUTCOMES: Final = (
    "answered",
    "abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "joinempty",
    "full",
)
CALL_ROLLUPS: Final = (CallHourRollup, CallWaitRollup, CallPathRollup, CallNavigatorRollup)
CALL_AND_ACTIVITY_ROLLUPS: Final[tuple[type[m.Base], ...]] = (
    *CALL_ROLLUPS,
    ActivityRollup,
    *MONTHLY.values(),
)
#: Every roll-up table, in the order ``rebuild`` reports them.
EVERY_ROLLUP: Final[tuple[type[m.Base], ...]] = (*CALL_AND_ACTIVITY_ROLLUPS, *TRANSFER_ROLLUPS)


def _columns(model: type[m.Base]) -> list[str]:
    return [column.key for column in model.__table__.columns]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def lock_call_writes(session: Session) -> None:
    """On PostgreSQL, wait for any other transaction writing calls to end (the lock is
    released at the end of this transaction). Nothing to do on SQLite."""
    if _dialect(session) == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(*_LOCK_KEY)))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refresh_call_days(session: Session, days: Iterable[date]) -> int:
    """Sum ``days`` again from the calls into every call roll-up; return how many days.
    The caller holds :func:`lock_call_writes` (``record_calls`` does)."""
    touched = sorted(set(days))
    dialect = _dialect(session)
    for chunk in _chunks(touched, _DAYS_CHUNK):
        for model in CALL_ROLLUPS:
            table: Any = model.__table__
            session.execute(delete(table).where(table.c.local_date.in_(chunk)))
            session.execute(
                insert(table).from_select(
                    _columns(model),
                    call_aggregate(model.__tablename__, dialect, C.local_date.in_(chunk)),
                )
            )
    refresh_months(session, CALL_ROLLUPS, touched)
    return len(touched)


# ---- navigator activity ----------------------------------------------------------------


def activity_pieces(
    started_at: datetime, ended_at: datetime, zone: ZoneInfo
) -> Iterator[tuple[date, int, float]]:
    """(local date, local hour, seconds) of an interval cut at the line's local hours.

    The line's offsets from UTC are whole hours, so local hours start on UTC hours; the
    hour repeated when clocks go back gets the seconds of both.
    """
    start = started_at.astimezone(UTC)
    end = ended_at.astimezone(UTC)
    while start < end:
        boundary = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        stop = min(boundary, end)
        local = start.astimezone(zone)
        yield local.date(), local.hour, (stop - start).total_seconds()
        start = stop


def _activity_rows(
    rows: Iterable[tuple[int | None, str, datetime, datetime]], zone: ZoneInfo
) -> dict[tuple[date, int, int, str], float]:
    totals: dict[tuple[date, int, int, str], float] = {}
    for navigator_id, state, started_at, ended_at in rows:
        for day, hour, seconds in activity_pieces(started_at, ended_at, zone):
            key = (day, hour, navigator_id or 0, state)
            totals[key] = totals.get(key, 0.0) + seconds
    return totals


def _add_activity_totals(session: Session, totals: dict[tuple[date, int, int, str], float]) -> None:
    monthly: dict[tuple[date, int, int, str], float] = {}
    for (d, h, n, st), v in totals.items():
        key = (month_of(d), h, n, st)
        monthly[key] = monthly.get(key, 0.0) + v
    keys = ("local_date", "local_hour", "navigator_key", "state")
    for model, sums in ((ActivityRollup, totals), (ActivityMonthRollup, monthly)):
        rows = [dict(zip(keys, key, strict=True), seconds=v) for key, v in sums.items()]
        insert_or_add(session, model, keys, rows)


def add_activity(
    session: Session, intervals: Iterable[tuple[int | None, str, datetime, datetime]]
) -> None:
    """Add newly inserted intervals (navigator id, state, start, end) to the roll-up."""
    totals = _activity_rows(intervals, line_zone(session))
    if totals:
        _add_activity_totals(session, totals)


# ---- rebuilding ------------------------------------------------------------------------


def rebuild(session: Session) -> dict[str, int]:
    """Every roll-up again from the raw tables (after a reconcile, a restore, or a change
    of the line's time zone); returns the rows of each roll-up."""
    lock_call_writes(session)
    dialect = _dialect(session)
    for model in CALL_AND_ACTIVITY_ROLLUPS:
        session.execute(delete(model))
    for model in CALL_ROLLUPS:
        session.execute(
            insert(model).from_select(
                _columns(model), call_aggregate(model.__tablename__, dialect, true())
            )
        )
    rebuild_transfers(session)
    days = session.scalars(select(CallHourRollup.local_date).distinct())
    refresh_months(session, CALL_ROLLUPS, {month_of(d) for d in days})
    A = NavigatorActivity
    query = select(A.navigator_id, A.state, A.started_at, A.ended_at).execution_options(
        yield_per=5000
    )
    zone = line_zone(session)
    batch: list[tuple[int | None, str, datetime, datetime]] = []
    totals: dict[tuple[date, int, int, str], float] = {}
    for row in session.execute(query):
        batch.append((row[0], row[1], row[2], row[3]))
        if len(batch) >= 5000:
            _merge_totals(totals, _activity_rows(batch, zone))
            batch.clear()
    _merge_totals(totals, _activity_rows(batch, zone))
    if totals:
        _add_activity_totals(session, totals)
    return {
        model.__tablename__: int(
            session.scalar(select(func.count()).select_from(model.__table__)) or 0
        )
        for model in EVERY_ROLLUP
    }


def _merge_totals(
    into: dict[tuple[date, int, int, str], float], more: dict[tuple[date, int, int, str], float]
) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value
