"""The call summary: calls received, answered, abandoned (short abandons apart), blocked,
closed; service level, speed of answer, median, 90th percentile and longest wait, handle
time (definitions in :mod:`store.reports.calls`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    state_seconds,
)

__all__ = ["CallSummary", "call_summary", "nearest_rank"]


def nearest_rank(histogram: Sequence[tuple[int, int]], percent: int) -> int | None:
    """The value at rank ceil(percent/100 * n) of a sorted (value, count) histogram."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    rank = max(1, -(-total * percent // 100))
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return value
    return histogram[-1][0]


@dataclass(frozen=True)
class CallSummary:
    period: Period
    thresholds: Thresholds
    received: int
    closed: int
    fallback: int
    research: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timeout: int
    closing: int
    leaveempty: int
    blocked_full: int
    blocked_joinempty: int
    #: answered within each of ``thresholds.service_levels_s`` (same order)
    answered_within: tuple[int, ...]
    wait_answered_s: float
    median_wait_s: int | None
    p90_wait_s: int | None
    longest_wait_s: float | None
    talk_s: float
    after_call_work_s: float

    @property
    def blocked(self) -> int:
        return self.blocked_full + self.blocked_joinempty

    @property
    def entered(self) -> int:
        return self.answered + self.abandoned + self.timeout + self.closing + self.leaveempty

    @property
    def counted(self) -> int:
        """Entered calls less short abandons: the base of the rates."""
        return self.entered - self.short_abandoned

    @property
    def service_levels(self) -> tuple[float | None, ...]:
        base = self.counted
        return tuple(n / base if base else None for n in self.answered_within)

    @property
    def abandon_rate(self) -> float | None:
        base = self.counted
        return (self.abandoned - self.short_abandoned) / base if base else None

    @property
    def average_speed_of_answer_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.after_call_work_s

    @property
    def average_handle_s(self) -> float | None:
        return self.handle_s / self.answered if self.answered else None


def _wait_histograms(
    session: Session, period: Period, raw: bool
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    src = call_source(session, ru.CallWaitRollup, period, raw)
    query = select(src.c.outcome, src.c.seconds, func.sum(src.c.calls)).group_by(
        src.c.outcome, src.c.seconds
    )
    answered: list[tuple[int, int]] = []
    abandoned: list[tuple[int, int]] = []
    for outcome, seconds, n in session.execute(query):
        (answered if outcome == ru.ANSWERED else abandoned).append((int(seconds), int(n)))
    return sorted(answered), sorted(abandoned)


_HOUR_SUMS = (
    "received",
    "closed",
    "fallback",
    "research",
    "offered",
    "answered",
    "abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "joinempty",
    "full",
    "wait_answered_s",
    "talk_s",
)


def call_summary(
    session: Session,
    period: Period,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    raw: bool = False,
) -> CallSummary:
    src = call_source(session, ru.CallHourRollup, period, raw)
    query = select(
        *(func.coalesce(func.sum(src.c[name]), 0) for name in _HOUR_SUMS),
        func.max(src.c.wait_max_s),
    )
    row = session.execute(query).one()
    sums = dict(zip(_HOUR_SUMS, row[:-1], strict=True))
    answered_waits, abandoned_waits = _wait_histograms(session, period, raw)
    activity = activity_seconds(session, period, raw)
    return CallSummary(
        period=period,
        thresholds=thresholds,
        received=int(sums["received"]),
        closed=int(sums["closed"]),
        fallback=int(sums["fallback"]),
        research=int(sums["research"]),
        offered=int(sums["offered"]),
        answered=int(sums["answered"]),
        abandoned=int(sums["abandoned"]),
        short_abandoned=sum(n for s, n in abandoned_waits if s < thresholds.short_abandon_s),
        timeout=int(sums["timeout"]),
        closing=int(sums["closing"]),
        leaveempty=int(sums["leaveempty"]),
        blocked_full=int(sums["full"]),
        blocked_joinempty=int(sums["joinempty"]),
        answered_within=tuple(
            sum(n for s, n in answered_waits if s <= limit) for limit in thresholds.service_levels_s
        ),
        wait_answered_s=float(sums["wait_answered_s"]),
        median_wait_s=nearest_rank(answered_waits, 50),
        p90_wait_s=nearest_rank(answered_waits, 90),
        longest_wait_s=None if row[-1] is None else float(row[-1]),
        talk_s=float(sums["talk_s"]),
        after_call_work_s=state_seconds(activity, "after_call_work"),
    )
