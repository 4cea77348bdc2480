"""Staffing: the navigators needed per hour of the day to reach the service-level target
(Erlang C, from the measured arrival rate and handle time), beside those logged in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import rollups as ru
from store.reports.basis import Period
from store.reports.call_sources import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    activity_seconds,
    call_source,
)

__all__ = ["StaffingHour", "agents_needed", "erlang_c", "erlang_service_level", "staffing"]


def erlang_c(agents: int, load: float) -> float:
    """The probability that a caller waits, with ``agents`` navigators and ``load``
    erlangs offered (Erlang B by recursion, then C); 1 when ``agents <= load``."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def erlang_service_level(agents: int, load: float, handle_s: float, within_s: float) -> float:
    """The share of callers answered within ``within_s`` (Erlang C, M/M/N)."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    waits = erlang_c(agents, load)
    return 1.0 - waits * math.exp(-(agents - load) * within_s / handle_s)


def agents_needed(
    rate_per_s: float, handle_s: float, target: float, within_s: float, *, most: int = 1000
) -> int:
    """The fewest navigators that answer ``target`` of the callers within ``within_s``."""
    load = rate_per_s * handle_s
    if load <= 0:
        return 0
    agents = max(1, math.floor(load) + 1)
    while agents < most and erlang_service_level(agents, load, handle_s, within_s) < target:
        agents += 1
    return agents


@dataclass(frozen=True)
class StaffingHour:
    hour: int
    days: int  # days of the period with calls offered to the queue in this hour
    offered: int
    answered: int
    handle_s: float  # talk + after-call work in this hour
    logged_in_s: float
    needed: int

    @property
    def calls_per_hour(self) -> float:
        return self.offered / self.days if self.days else 0.0

    @property
    def average_handle_s(self) -> float | None:
        return self.handle_s / self.answered if self.answered else None

    @property
    def logged_in(self) -> float:
        """Navigators logged in, on average, during this hour of those days."""
        return self.logged_in_s / (self.days * 3600) if self.days else 0.0


def staffing(
    session: Session,
    period: Period,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    raw: bool = False,
) -> list[StaffingHour]:
    """Per local hour of the day: the calls offered per hour on the days the queue got
    calls at that hour, their handle time, the navigators needed for the target
    (``service_level_target`` within ``service_levels_s[0]``) by Erlang C, beside the
    navigators logged in on average."""
    src = call_source(session, ru.CallHourRollup, period, raw, daily_only=True)
    per_day = (
        select(
            src.c.local_date,
            src.c.local_hour,
            func.sum(src.c.offered).label("offered"),
            func.sum(src.c.answered).label("answered"),
            func.sum(src.c.talk_s).label("talk_s"),
        )
        .group_by(src.c.local_date, src.c.local_hour)
        .subquery()
    )
    query = (
        select(
            per_day.c.local_hour,
            func.count(),
            func.sum(per_day.c.offered),
            func.sum(per_day.c.answered),
            func.sum(per_day.c.talk_s),
        )
        .where(per_day.c.offered > 0)
        .group_by(per_day.c.local_hour)
    )
    found = {
        int(h): (int(d), int(o), int(a or 0), float(t or 0))
        for h, d, o, a, t in session.execute(query)
    }
    activity = activity_seconds(session, period, raw)
    within = thresholds.service_levels_s[0]
    out = []
    for hour in range(24):
        days, offered, answered, talk = found.get(hour, (0, 0, 0, 0.0))
        acw = sum(v for (_, s, h), v in activity.items() if s == "after_call_work" and h == hour)
        logged = sum(v for (_, s, h), v in activity.items() if s == "logged_in" and h == hour)
        handle = talk + acw
        needed = 0
        if days and answered:
            needed = agents_needed(
                offered / (days * 3600.0),
                handle / answered,
                thresholds.service_level_target,
                within,
            )
        out.append(StaffingHour(hour, days, offered, answered, handle, logged, needed))
    return out
