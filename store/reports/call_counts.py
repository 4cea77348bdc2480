"""Calls counted by day, by month, by hour x weekday (the heat map) and by language, and
per menu path, closed-line choice and route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import rollups as ru
from store.reports.basis import Period
from store.reports.call_sources import call_source

__all__ = [
    "CallCount",
    "PathCount",
    "calls_by_day",
    "calls_by_language",
    "calls_by_month",
    "calls_by_weekday_hour",
    "closed_choices",
    "menu_choices",
    "routes",
]


@dataclass(frozen=True)
class CallCount:
    """Calls in one bucket: ``key`` is a date, a (year, month), a (weekday, hour) with
    0 = Monday, or a language."""

    key: Any
    received: int
    offered: int
    answered: int
    abandoned: int
    blocked: int
    closed: int


_COUNT_SUMS = ("received", "offered", "answered", "abandoned", "blocked", "closed")


def _counts(
    session: Session, period: Period, raw: bool, *keys: str, daily_only: bool = False
) -> dict[Any, list[int]]:
    src = call_source(session, ru.CallHourRollup, period, raw, daily_only=daily_only)
    columns = [src.c[k] for k in keys]
    query = select(
        *columns,
        func.sum(src.c.received),
        func.sum(src.c.offered),
        func.sum(src.c.answered),
        func.sum(src.c.abandoned),
        func.sum(src.c.full + src.c.joinempty),
        func.sum(src.c.closed),
    ).group_by(*columns)
    out: dict[Any, list[int]] = {}
    for row in session.execute(query):
        key = row[0] if len(keys) == 1 else tuple(row[: len(keys)])
        out[key] = [int(v or 0) for v in row[len(keys) :]]
    return out


def _zero() -> list[int]:
    return [0] * len(_COUNT_SUMS)


def calls_by_day(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Every day of the period, zeros included."""
    found = _counts(session, period, raw, "local_date", daily_only=True)
    found = {
        (d if isinstance(d, date) else date.fromisoformat(str(d))): v for d, v in found.items()
    }
    days = (period.end - period.start).days + 1
    out = []
    for offset in range(days):
        day = period.start + timedelta(days=offset)
        out.append(CallCount(day, *found.get(day, _zero())))
    return out


def calls_by_month(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Every month the period touches, zeros included: whole months from the monthly
    roll-ups (their rows are dated by the month's first day), the days around them from
    the daily ones, folded into months here."""
    totals = {month: _zero() for month in period.months()}
    for day, values in _counts(session, period, raw, "local_date").items():
        when = day if isinstance(day, date) else date.fromisoformat(str(day))
        bucket = totals[(when.year, when.month)]
        for i, value in enumerate(values):
            bucket[i] += value
    return [CallCount(month, *values) for month, values in totals.items()]


def calls_by_weekday_hour(
    session: Session, period: Period, *, raw: bool = False
) -> list[CallCount]:
    """The heat map: 7 x 24 cells, Monday 0 h first."""
    found = _counts(session, period, raw, "local_weekday", "local_hour")
    return [
        CallCount((day, hour), *found.get((day, hour), _zero()))
        for day in range(7)
        for hour in range(24)
    ]


def calls_by_language(session: Session, period: Period, *, raw: bool = False) -> list[CallCount]:
    """Per language chosen ("none": no choice made; "": no source knew), in that order."""
    found = _counts(session, period, raw, "language")
    order = ["fr", "en", "interpreter", "none", ""]
    keys = [k for k in order if k in found] + sorted(k for k in found if k not in order)
    return [CallCount(k, *found[k]) for k in keys]


# ---- menu choices, closed line ---------------------------------------------------------


@dataclass(frozen=True)
class PathCount:
    line_state: str
    path: str
    route: str
    route_destination: str
    exit_route: str
    calls: int


def _paths(
    session: Session, period: Period, raw: bool, keys: Sequence[str], closed_only: bool
) -> list[tuple[Any, ...]]:
    src = call_source(session, ru.CallPathRollup, period, raw)
    columns = [src.c[k] for k in keys]
    query = select(*columns, func.sum(src.c.calls)).group_by(*columns)
    if closed_only:
        query = query.where(src.c.line_state.in_(ru.CLOSED_STATES))
    rows = [(*row[:-1], int(row[-1])) for row in session.execute(query)]
    rows.sort(key=lambda r: (-r[-1], *r[:-1]))
    return rows


def menu_choices(session: Session, period: Period, *, raw: bool = False) -> list[tuple[str, int]]:
    """Calls per path through the menu ("" when no source knew it), most frequent first."""
    return [(p, n) for p, n in _paths(session, period, raw, ("path",), False)]


def closed_choices(
    session: Session, period: Period, *, raw: bool = False
) -> list[tuple[str, str, str, int]]:
    """Calls while closed: (line state, route, destination, calls), most frequent first."""
    keys = ("line_state", "route", "route_destination")
    return [(s, r, d, n) for s, r, d, n in _paths(session, period, raw, keys, True)]


def routes(session: Session, period: Period, *, raw: bool = False) -> list[tuple[str, str, int]]:
    """Calls per final route and queue-exit route, most frequent first."""
    return [(r, e, n) for r, e, n in _paths(session, period, raw, ("route", "exit_route"), False)]
