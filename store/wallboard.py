"""Today's figures for the wallboard, from the call records (``store.calls``).

The wallboard (dashboard/wallboard.py) shows, beside the live state the listener keeps
(``store.live``), four figures for the current day in the line's time zone:

* received: every call record that arrived that day, whatever became of it (answered,
  abandoned, left the menu, reached the research box, arrived while the line was closed);
* answered: the calls a navigator took from the queue (``queue_outcome`` answered);
* abandoned: the callers who hung up while waiting in the queue (``abandoned``, short
  abandons included: the reports count those apart, the wallboard does not);
* service level: of the calls whose wait in the queue has ended (answered, abandoned, or
  left on the maximum wait, at closing or when every navigator left), the share answered
  within ``within_s`` seconds. A call refused at once (no navigator logged in, queue
  full) never waited and is not in it; a caller still waiting is not in it yet.

The day is ``CallRecord.local_date``, which the writer computes in the line's time zone
from the call's arrival: a call that arrived before midnight counts for the day before.

After-call work has no event and no column in the live tables: the listener writes it
as an interval of ``navigator_activity`` when the call ends (``AgentComplete`` plus the
queue's wrap-up time), so it is known ahead. :func:`after_call_work` reads the intervals
that cover the present moment, for navigators with an account (the table's index is
on the navigator and the day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.times import require_utc
from store.calls import CallRecord, NavigatorActivity, QueueOutcome
from store.models import Navigator

__all__ = [
    "SERVICE_LEVEL_S",
    "WAIT_ENDED",
    "DayFigures",
    "after_call_work",
    "day_figures",
    "local_day",
    "navigator_names",
]

#: The usual threshold of the service level: answered within 30 seconds.
SERVICE_LEVEL_S = 30.0
#: The queue outcomes of a caller whose wait has ended (the service level's base).
WAIT_ENDED = (
    QueueOutcome.ANSWERED.value,
    QueueOutcome.ABANDONED.value,
    QueueOutcome.TIMEOUT.value,
    QueueOutcome.CLOSING.value,
    QueueOutcome.LEAVEEMPTY.value,
)


@dataclass(frozen=True)
class DayFigures:
    """One day's counts (see the module's docstring for what each one counts)."""

    day: date
    within_s: float
    received: int
    answered: int
    abandoned: int
    waits_ended: int
    answered_within: int

    @property
    def service_level(self) -> float | None:
        """The share (0 to 1) answered within ``within_s``; None before any wait ended."""
        if self.waits_ended == 0:
            return None
        return self.answered_within / self.waits_ended


def local_day(now: datetime, zone: ZoneInfo) -> date:
    """The date at ``now`` (aware UTC) in the line's time zone."""
    return require_utc(now, "now").astimezone(zone).date()


def day_figures(session: Session, day: date, *, within_s: float = SERVICE_LEVEL_S) -> DayFigures:
    """The wallboard's figures for ``day`` (a local date), in one query on the day's index."""
    if within_s < 0:
        raise ValueError(f"the service level threshold must be 0 or more, not {within_s}")
    outcome = CallRecord.queue_outcome
    answered = outcome == QueueOutcome.ANSWERED.value
    query = select(
        func.count(),
        func.count().filter(answered),
        func.count().filter(outcome == QueueOutcome.ABANDONED.value),
        func.count().filter(outcome.in_(WAIT_ENDED)),
        func.count().filter(answered, CallRecord.wait_s <= within_s),
    ).where(CallRecord.local_date == day)
    received, answered_n, abandoned, ended, within = session.execute(query).one()
    return DayFigures(day, within_s, received, answered_n, abandoned, ended, within)


def navigator_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Navigator id -> the name the centre gave it (``display_name``)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Navigator.id, Navigator.display_name).where(Navigator.id.in_(wanted))
    )
    return {nav_id: name for nav_id, name in rows}


def after_call_work(
    session: Session, navigator_ids: Iterable[int], now: datetime, zone: ZoneInfo
) -> dict[int, datetime]:
    """Navigator id -> when its after-call work began, for those in after-call work at
    ``now`` (an interval that started at or before ``now`` and ends after it)."""
    wanted = sorted(set(navigator_ids))
    if not wanted:
        return {}
    today = local_day(now, zone)
    rows = session.execute(
        select(NavigatorActivity.navigator_id, func.max(NavigatorActivity.started_at))
        .where(
            NavigatorActivity.navigator_id.in_(wanted),
            NavigatorActivity.local_date.in_((today, today - timedelta(days=1))),
            NavigatorActivity.state == "after_call_work",
            NavigatorActivity.started_at <= now,
            NavigatorActivity.ended_at > now,
        )
        .group_by(NavigatorActivity.navigator_id)
    )
    return {nav_id: started for nav_id, started in rows if nav_id is not None}
