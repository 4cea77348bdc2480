"""Where the call reports read from: the daily roll-ups of ``store.rollups`` (whole
months from the monthly ones), or with ``raw=True`` the same sums taken over the call
records; the navigators' activity seconds per hour; the thresholds a centre may set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, union_all
from sqlalchemy.orm import Session

from store import models as m
from store import rollups as ru
from store.calls import CallRecord, NavigatorActivity
from store.linesettings import line_zone
from store.reports.basis import Period, ReportError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ActivityKey",
    "Thresholds",
    "activity_seconds",
    "call_source",
    "calls_in",
    "rollup_rows",
    "split_months",
    "state_seconds",
]


@dataclass(frozen=True)
class Thresholds:
    """The figures a centre may set (``[reports]``): whole seconds, so the roll-ups'
    whole-second waits give them exactly."""

    short_abandon_s: int = 5
    service_levels_s: tuple[int, ...] = (30, 60)
    #: Staffing: the share of calls to answer within ``service_levels_s[0]``.
    service_level_target: float = 0.8

    def __post_init__(self) -> None:
        if self.short_abandon_s < 0:
            raise ReportError("short_abandon_s must be 0 or more")
        if not self.service_levels_s or any(t < 0 for t in self.service_levels_s):
            raise ReportError("service_levels_s must list one or more thresholds >= 0")
        if not 0 < self.service_level_target < 1:
            raise ReportError("service_level_target must be between 0 and 1")


DEFAULT_THRESHOLDS = Thresholds()


# ---- sources: the roll-ups, or the same sums over the raw rows --------------------------


def calls_in(period: Period) -> ColumnElement[bool]:
    dates = and_(CallRecord.local_date >= period.start, CallRecord.local_date <= period.end)
    year = period.fiscal_year
    return dates if year is None else and_(CallRecord.fiscal_year == year, dates)


def split_months(period: Period) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The period as its whole months (first and last, as month starts) and the days
    around them: ``(None, [(start, end)])`` when it holds no whole month."""
    first = ru.month_of(period.start)
    if first < period.start:
        first = ru.month_end(first) + timedelta(days=1)
    last = ru.month_of(period.end)
    if ru.month_end(last) > period.end:
        last = ru.month_of(last - timedelta(days=1))
    if first > last:
        return None, [(period.start, period.end)]
    days = []
    if period.start < first:
        days.append((period.start, first - timedelta(days=1)))
    if ru.month_end(last) < period.end:
        days.append((ru.month_end(last) + timedelta(days=1), period.end))
    return (first, last), days


def rollup_rows(model: type[m.Base], period: Period, *, daily_only: bool = False) -> Any:
    """Rows of the daily roll-up ``model`` for the period, the whole months from its
    monthly sums: one subquery with the daily roll-up's columns."""
    names = [column.key for column in model.__table__.columns]
    daily: Any = model.__table__
    months, days = (None, [(period.start, period.end)]) if daily_only else split_months(period)
    parts: list[Any] = [
        select(*(daily.c[n] for n in names)).where(
            daily.c.local_date >= start, daily.c.local_date <= end
        )
        for start, end in days
    ]
    if months is not None:
        monthly: Any = ru.MONTHLY[model].__table__
        parts.append(
            select(*(monthly.c[n] for n in names)).where(
                monthly.c.local_date >= months[0], monthly.c.local_date <= months[1]
            )
        )
    if len(parts) == 1:
        return parts[0].subquery()
    combined: Any = union_all(*parts)
    return combined.subquery()


def call_source(
    session: Session, model: type[m.Base], period: Period, raw: bool, *, daily_only: bool = False
) -> Any:
    """Rows of ``model`` for the period, as a subquery with the roll-up's columns."""
    if raw:
        dialect = session.get_bind().dialect.name
        return ru.call_aggregate(model.__tablename__, dialect, calls_in(period)).subquery()
    return rollup_rows(model, period, daily_only=daily_only)


ActivityKey = tuple[int, str, int]  # navigator key, state, local hour


def activity_seconds(session: Session, period: Period, raw: bool) -> dict[ActivityKey, float]:
    """Seconds per (navigator key, state, local hour) over the period."""
    if not raw:
        A = rollup_rows(ru.ActivityRollup, period)
        query = select(
            A.c.navigator_key, A.c.state, A.c.local_hour, func.sum(A.c.seconds)
        ).group_by(A.c.navigator_key, A.c.state, A.c.local_hour)
        return {(n, s, h): float(v or 0.0) for n, s, h, v in session.execute(query)}
    zone = line_zone(session)
    first = datetime.combine(period.start, time(), zone).astimezone(UTC)
    after = datetime.combine(period.end + timedelta(days=1), time(), zone).astimezone(UTC)
    N = NavigatorActivity
    rows = session.execute(
        select(N.navigator_id, N.state, N.started_at, N.ended_at).where(
            N.started_at < after, N.ended_at > first
        )
    )
    out: dict[ActivityKey, float] = {}
    for navigator_id, state, started_at, ended_at in rows:
        for day, hour, seconds in ru.activity_pieces(started_at, ended_at, zone):
            if period.start <= day <= period.end:
                key = (navigator_id or 0, state, hour)
                out[key] = out.get(key, 0.0) + seconds
    return out


def state_seconds(activity: Mapping[ActivityKey, float], state: str) -> float:
    return sum(v for (_, s, _), v in activity.items() if s == state)
