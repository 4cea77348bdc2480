"""Is the line open right now, and why: a pure function of the schedule and an instant.

Only the callers read the clock (the FastAGI server per call, the dashboard per page):
``compute_state(schedule, now)`` never does, so every rule is tested with fixed instants,
including the two daylight-saving changes of America/Toronto. Priority, highest first:
the manager's override (day/night switch) until it expires, an exceptional closure,
holiday hours, weekday hours. A forced closure marked exceptional is reported as an
exceptional closure (reason ``closure``): the caller hears the same message and the
status page shows the same words as for a planned one; a plain forced closure
(``override_closed``) is the night switch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Final, Literal
from zoneinfo import ZoneInfo

import holidays

from ivr.dialplan import (
    DB_CLOSURE_END,
    DB_CLOSURE_START,
    DB_HOLIDAY_DATES,
    DB_OVERRIDE,
    DB_OVERRIDE_UNTIL,
)
from ivr.settings import Closure, DayHours, HolidayRules, Override, Schedule

Reason = Literal["hours", "after_hours", "holiday", "closure", "override_open", "override_closed"]

LOOKAHEAD_DAYS: Final = 14


@dataclass(frozen=True)
class LineState:
    """The line's state at one instant.

    ``until`` is when the state next changes (closing time, next opening, end of a
    closure or override, start of a closure), or None when it is not known within
    ``LOOKAHEAD_DAYS`` or the override has no end. ``holiday_name`` is set whenever
    the local date is a holiday, even if the line is open on holiday hours.
    """

    is_open: bool
    reason: Reason
    detail: str
    until: datetime | None
    holiday_name: str | None


_HolidayKey = tuple[str, str, tuple[str, ...], tuple[tuple[date, str], ...], frozenset[date]]


def _holiday_key(rules: HolidayRules) -> _HolidayKey:
    return (
        rules.country,
        rules.subdivision,
        tuple(rules.categories),
        tuple(sorted(rules.added.items())),
        frozenset(rules.removed),
    )


@functools.lru_cache(maxsize=256)
def _holidays_in_year(key: _HolidayKey, year: int) -> Mapping[date, str]:
    """The holidays of one year after ``added`` and ``removed``; cached because every
    call of ``compute_state`` needs them and the ``holidays`` package is slow to build."""
    country, subdivision, categories, added, removed = key
    found = holidays.country_holidays(
        country, subdiv=subdivision or None, categories=categories, years=year
    )
    days: dict[date, str] = {day: str(name) for day, name in found.items()}
    for day, name in added:
        if day.year == year:
            days[day] = name
    for day in removed:
        days.pop(day, None)
    return MappingProxyType(dict(sorted(days.items())))


def holidays_in_year(rules: HolidayRules, year: int) -> Mapping[date, str]:
    """The line's holidays in ``year`` (date -> name), sorted by date."""
    return _holidays_in_year(_holiday_key(rules), year)


def holiday_name(rules: HolidayRules, day: date) -> str | None:
    return holidays_in_year(rules, day.year).get(day)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")


def _override_active(override: Override | None, now: datetime) -> Override | None:
    if override is None:
        return None
    if override.until is not None and now >= override.until:
        return None
    return override


def _active_closure_end(closures: tuple[Closure, ...], now: datetime) -> datetime | None:
    """End of the closed stretch covering ``now``, following overlapping closures."""
    end: datetime | None = None
    changed = True
    while changed:
        changed = False
        for closure in closures:
            point = now if end is None else end
            if closure.starts <= point < closure.ends and (end is None or closure.ends > end):
                end = closure.ends
                changed = True
    return end


def _next_closure(closures: tuple[Closure, ...], now: datetime) -> Closure | None:
    """The closure in force at ``now``, else the next one to start."""
    upcoming = [c for c in closures if c.ends > now]
    return min(upcoming, key=lambda c: (c.starts, c.ends), default=None)


def _hours_for(schedule: Schedule, day: date) -> tuple[DayHours | None, str | None]:
    name = holiday_name(schedule.holidays, day)
    if name is not None:
        return schedule.weekly.holiday, name
    return schedule.weekly.for_weekday(day.weekday()), None


def _at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _next_opening(schedule: Schedule, zone: ZoneInfo, now_utc: datetime) -> datetime | None:
    today = now_utc.astimezone(zone).date()
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        hours, _ = _hours_for(schedule, day)
        if hours is not None:
            opening = _at(day, hours.opens, zone)
            if opening > now_utc:
                return opening
    return None


def _earliest(*instants: datetime | None) -> datetime | None:
    present = [i for i in instants if i is not None]
    return min(present, default=None)


def _local(instant: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if instant is None else instant.astimezone(zone)


def compute_state(schedule: Schedule, now: datetime) -> LineState:
    """The line's state at ``now`` (timezone-aware; naive raises ValueError)."""
    _require_aware(now)
    zone = ZoneInfo(schedule.timezone)
    now_utc = now.astimezone(UTC)
    today = now_utc.astimezone(zone).date()
    hours, holiday = _hours_for(schedule, today)

    override = _override_active(schedule.override, now_utc)
    if override is not None:
        reason: Reason = "override_open" if override.mode == "open" else "override_closed"
        fallback_detail = f"forced {override.mode}"
        if override.exceptional:
            reason, fallback_detail = "closure", "exceptional closure"
        return LineState(
            is_open=override.mode == "open",
            reason=reason,
            detail=override.reason or fallback_detail,
            until=_local(override.until, zone),
            holiday_name=holiday,
        )

    closure_end = _active_closure_end(schedule.closures, now_utc)
    if closure_end is not None:
        current = [c for c in schedule.closures if c.starts <= now_utc < c.ends]
        return LineState(
            is_open=False,
            reason="closure",
            detail="; ".join(c.reason for c in current if c.reason) or "exceptional closure",
            until=_local(closure_end, zone),
            holiday_name=holiday,
        )

    next_closure = _next_closure(schedule.closures, now_utc)
    closure_start = None if next_closure is None else next_closure.starts
    if hours is not None:
        opening = _at(today, hours.opens, zone)
        closing = _at(today, hours.closes, zone)
        if opening <= now_utc < closing:
            span = f"{hours.opens:%H:%M}-{hours.closes:%H:%M}"
            return LineState(
                is_open=True,
                reason="hours",
                detail=f"holiday hours {span} ({holiday})" if holiday else f"open {span}",
                until=_local(_earliest(closing, closure_start), zone),
                holiday_name=holiday,
            )
    until = _local(_earliest(_next_opening(schedule, zone, now_utc), closure_start), zone)
    if holiday is not None:
        return LineState(False, "holiday", f"closed: {holiday}", until, holiday)
    return LineState(False, "after_hours", "closed outside opening hours", until, None)


def _epoch(instant: datetime) -> str:
    return str(int(instant.timestamp()))


def astdb_mirror_valid_until(schedule: Schedule, now: datetime) -> datetime:
    """The first instant after ``now`` at which ``astdb_mirror`` may answer otherwise.

    Its values move only when the override expires, when a closure ends (the next one
    then takes its place) and when a new local year begins (the holiday list covers
    this year and the next); so a mirror computed at ``now`` holds for any instant in
    ``[now, astdb_mirror_valid_until(schedule, now))``.
    """
    _require_aware(now)
    zone = ZoneInfo(schedule.timezone)
    year = now.astimezone(zone).year
    next_year = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    override = _override_active(schedule.override, now)
    ends = [c.ends for c in schedule.closures if c.ends > now]
    until = override.until if override is not None else None
    return min([next_year, *ends, *([until] if until is not None else [])])


def astdb_mirror(schedule: Schedule, now: datetime) -> dict[str, str]:
    """The AstDB values the dialplan's fallback reads when the FastAGI server is down.

    Times are Unix epoch seconds so the dialplan compares them with ``${EPOCH}``;
    ``holidays`` lists this year's and next year's local dates, comma-separated.
    """
    _require_aware(now)
    zone = ZoneInfo(schedule.timezone)
    override = _override_active(schedule.override, now)
    closure = _next_closure(schedule.closures, now)
    year = now.astimezone(zone).year
    days = [
        *holidays_in_year(schedule.holidays, year),
        *holidays_in_year(schedule.holidays, year + 1),
    ]
    return {
        DB_OVERRIDE: "" if override is None else override.mode,
        DB_OVERRIDE_UNTIL: ""
        if override is None or override.until is None
        else _epoch(override.until),
        DB_CLOSURE_START: "" if closure is None else _epoch(closure.starts),
        DB_CLOSURE_END: "" if closure is None else _epoch(closure.ends),
        DB_HOLIDAY_DATES: ",".join(day.isoformat() for day in days),
    }
