"""Today's wallboard figures from call records, on both databases: the local day in the
line's time zone, and what received / answered / abandoned / service level count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
    record_activity,
    record_calls,
)
from store.navigators import add_navigator
from store.wallboard import (
    DayFigures,
    after_call_work,
    day_figures,
    local_day,
    navigator_names,
)

ZONE = ZoneInfo("America/Toronto")  # the line's zone before any settings are seeded
#: Wednesday 25 November 2026 in Québec (EST, UTC-5); local midnight is 05:00 UTC.
DAY = date(2026, 11, 25)
MIDNIGHT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def call(
    n: int,
    at: datetime,
    outcome: QueueOutcome | None = None,
    wait_s: float | None = None,
) -> CallFact:
    return CallFact(
        linkedid=f"1795000000.{n}",
        at=at,
        source=CallSource.AMI,
        queue="navigateurs" if outcome is not None else None,
        queue_outcome=outcome,
        wait_s=wait_s,
    )


FACTS = [
    # the evening before, 23:59:59 local: yesterday's
    call(1, MIDNIGHT - timedelta(seconds=1), QueueOutcome.ANSWERED, 3.0),
    call(2, MIDNIGHT, QueueOutcome.ANSWERED, 30.0),  # on the threshold: within
    call(3, MIDNIGHT + timedelta(hours=9), QueueOutcome.ANSWERED, 30.5),  # over it
    call(4, MIDNIGHT + timedelta(hours=10), QueueOutcome.ANSWERED, 4.0),
    call(5, MIDNIGHT + timedelta(hours=10), QueueOutcome.ABANDONED, 2.0),  # short abandon
    call(6, MIDNIGHT + timedelta(hours=11), QueueOutcome.ABANDONED, 95.0),
    call(7, MIDNIGHT + timedelta(hours=11), QueueOutcome.TIMEOUT, 600.0),
    call(8, MIDNIGHT + timedelta(hours=12), QueueOutcome.JOINEMPTY),  # refused: never waited
    call(9, MIDNIGHT + timedelta(hours=12), QueueOutcome.FULL),
    call(10, MIDNIGHT + timedelta(hours=13)),  # research box, never queued
    call(11, MIDNIGHT + timedelta(hours=13, minutes=5)),  # still waiting: no outcome yet
    # 23:59:59 local on the 25th, then the 26th
    call(12, MIDNIGHT + timedelta(hours=24, seconds=-1), QueueOutcome.LEAVEEMPTY, 40.0),
    call(13, MIDNIGHT + timedelta(hours=24), QueueOutcome.ANSWERED, 1.0),
]


def test_the_days_figures_count_by_local_date(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, session.begin():
        record_calls(session, FACTS, now=MIDNIGHT + timedelta(days=2))
    with Session(migrated_engine) as session:
        today = day_figures(session, DAY)
        within_five = day_figures(session, DAY, within_s=5)
        before = day_figures(session, DAY - timedelta(days=1))
        empty = day_figures(session, DAY - timedelta(days=30))
    # 2..12: received 11; answered 2, 3, 4; abandoned 5, 6; waits ended 2-7 and 12
    assert today == DayFigures(DAY, 30.0, 11, 3, 2, 7, 2)
    assert today.service_level == pytest.approx(2 / 7)
    assert (within_five.answered_within, within_five.waits_ended) == (1, 7)
    assert before == DayFigures(DAY - timedelta(days=1), 30.0, 1, 1, 0, 1, 1)
    assert empty == DayFigures(DAY - timedelta(days=30), 30.0, 0, 0, 0, 0, 0)
    assert empty.service_level is None


def test_the_local_day_turns_at_local_midnight() -> None:
    assert local_day(MIDNIGHT - timedelta(seconds=1), ZONE) == DAY - timedelta(days=1)
    assert local_day(MIDNIGHT, ZONE) == DAY
    # summer time: midnight is 04:00 UTC
    assert local_day(datetime(2026, 7, 1, 3, 59, tzinfo=UTC), ZONE) == date(2026, 6, 30)
    assert local_day(datetime(2026, 7, 1, 4, 0, tzinfo=UTC), ZONE) == date(2026, 7, 1)


def test_a_negative_threshold_is_refused(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, pytest.raises(ValueError, match="threshold"):
        day_figures(session, DAY, within_s=-1)


def test_navigator_names_by_id(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, session.begin():
        alice = add_navigator(session, "alice", "Alice Tremblay", "PJSIP/nav-alice")
        bob = add_navigator(session, "bob", "Bob Gagnon", "PJSIP/nav-bob")
        ids = (alice.id, bob.id)
    with Session(migrated_engine) as session:
        assert navigator_names(session, [ids[1], ids[0], ids[1], 999]) == {
            ids[0]: "Alice Tremblay",
            ids[1]: "Bob Gagnon",
        }
        assert navigator_names(session, []) == {}


def test_after_call_work_is_the_interval_covering_now(migrated_engine: Engine) -> None:
    now = MIDNIGHT + timedelta(seconds=5)  # 00:00:05 local: intervals of both days count
    s = timedelta(seconds=1)
    with Session(migrated_engine) as session, session.begin():
        navs = [
            add_navigator(session, name, name.title(), f"PJSIP/nav-{name}")
            for name in ("alice", "bob", "carole", "denis")
        ]
        ids = [nav.id for nav in navs]
        record_activity(
            session,
            [
                # alice: started before midnight, still running
                ActivityFact("PJSIP/nav-alice", "on_call", now - 90 * s, now - 10 * s),
                ActivityFact("PJSIP/nav-alice", "after_call_work", now - 10 * s, now + 20 * s),
                # bob: over one second ago
                ActivityFact("PJSIP/nav-bob", "after_call_work", now - 31 * s, now - 1 * s),
                # carole: on a call, no after-call work yet
                ActivityFact("PJSIP/nav-carole", "on_call", now - 60 * s, now + 60 * s),
                # denis: ends exactly now (over), and a new one starting now
                ActivityFact("PJSIP/nav-denis", "after_call_work", now - 30 * s, now),
                ActivityFact("PJSIP/nav-denis", "after_call_work", now, now + 30 * s),
            ],
        )
    with Session(migrated_engine) as session:
        found = after_call_work(session, [*ids, 999], now, ZONE)
        assert after_call_work(session, [], now, ZONE) == {}
    assert found == {ids[0]: now - 10 * s, ids[3]: now}
