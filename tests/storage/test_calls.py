"""Call records on both databases: one row per linkedid whatever the order the sources
report in, completed by each, dated by the earliest arrival in the line's time zone."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from store.calls import (
    ActivityFact,
    CallFact,
    CallRecord,
    CallSource,
    CallStoreError,
    NavigatorActivity,
    QueueOutcome,
    call_as_dict,
    calls_between,
    merge,
    record_activity,
    record_calls,
)
from store.navigators import add_navigator

# 23:59:58 in Montréal on March 31, 2027 (EDT, UTC-4): the last seconds of fiscal 2026.
ARRIVAL = datetime(2027, 4, 1, 3, 59, 58, tzinfo=UTC)
LINKEDID = "1796400683.654"


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def flow() -> CallFact:
    return CallFact(
        linkedid=LINKEDID,
        at=ARRIVAL,
        source=CallSource.FLOW,
        caller_uniqueid=LINKEDID,
        caller_number="4185550177",
        line_state="hours",
        language="fr",
        path="open/lang:fr/main:1",
        route="queue",
        queue="navigators",
    )


def queued() -> CallFact:
    joined = ARRIVAL + timedelta(seconds=21)
    return CallFact(
        linkedid=LINKEDID,
        at=joined,
        source=CallSource.AMI,
        queue="navigators",
        queue_joined_at=joined,
        queue_position=1,
        queue_outcome=QueueOutcome.ANSWERED,
        queue_left_at=joined + timedelta(seconds=5),
        wait_s=5.0,
        ring_s=1.0,
        answered_interface="PJSIP/nav-alice",
        answered_name="Alice Navigatrice",
        talk_s=184.0,
        completed_by="agent",
        ended_at=joined + timedelta(seconds=190),
    )


def rows(session: Session) -> list[dict[str, object]]:
    found = session.scalars(select(CallRecord).order_by(CallRecord.id)).all()
    return [
        {k: v for k, v in call_as_dict(r).items() if k not in {"id", "created_at", "updated_at"}}
        for r in found
    ]


def test_the_sources_in_any_order_give_the_same_single_record(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        add_navigator(session, "alice", "Alice Navigatrice", "PJSIP/nav-alice")
        session.commit()
    facts = [
        flow(),
        queued(),
        replace(queued(), source=CallSource.QUEUE_LOG, answered_interface=None),
    ]
    seen = []
    for order in itertools.permutations(facts):
        with Session(migrated_engine) as session:
            session.execute(CallRecord.__table__.delete())
            for one in order:  # one transaction per source, as they arrive
                record_calls(session, [one])
                session.commit()
            seen.append(rows(session))
    assert all(found == seen[0] for found in seen)
    (record,) = seen[0]
    assert record["arrived_at"] == ARRIVAL
    assert record["local_date"] == date(2027, 3, 31)
    assert record["local_hour"] == 23
    assert record["local_weekday"] == 2  # a Wednesday
    assert record["fiscal_year"] == 2026
    assert record["language"] == "fr" and record["route"] == "queue"
    assert record["queue_outcome"] == "answered" and record["wait_s"] == 5.0
    assert record["talk_s"] == 184.0 and record["answered_member"] == "Alice Navigatrice"
    assert record["navigator_id"] is not None
    assert record["ended_at"] == ARRIVAL + timedelta(seconds=211)
    assert (
        record["seen_flow"],
        record["seen_ami"],
        record["seen_queue_log"],
        record["seen_cel"],
    ) == (
        True,
        True,
        True,
        False,
    )


def test_a_fact_in_one_batch_merges_as_in_two_transactions(session: Session) -> None:
    assert record_calls(session, [queued(), flow()]) == 1
    session.commit()
    once = rows(session)
    assert record_calls(session, [flow(), queued()]) == 1  # replayed: nothing changes
    session.commit()
    assert rows(session) == once
    assert once[0]["arrived_at"] == ARRIVAL
    assert once[0]["local_date"] == date(2027, 3, 31)


def test_a_later_arrival_does_not_move_the_call_and_an_earlier_one_does(session: Session) -> None:
    record_calls(session, [queued()])
    session.commit()
    (first,) = rows(session)
    assert first["local_date"] == date(2027, 4, 1) and first["fiscal_year"] == 2027
    record_calls(session, [flow()])
    session.commit()
    (second,) = rows(session)
    assert second["arrived_at"] == ARRIVAL and second["fiscal_year"] == 2026
    assert second["queue_joined_at"] == first["queue_joined_at"]


def test_a_known_value_is_never_overwritten_and_a_flag_only_rises(session: Session) -> None:
    record_calls(session, [replace(flow(), research_message=True)])
    record_calls(session, [replace(flow(), language="en", research_message=False)])
    session.commit()
    (record,) = rows(session)
    assert record["language"] == "fr"
    assert record["research_message"] is True


def test_a_withheld_number_is_stored_as_none(session: Session) -> None:
    record_calls(session, [replace(flow(), caller_number="anonymous")])
    session.commit()
    assert rows(session)[0]["caller_number"] is None


def test_values_outside_the_lists_are_refused_before_the_database() -> None:
    with pytest.raises(CallStoreError, match="route"):
        replace(flow(), route="elsewhere")
    with pytest.raises(ValueError, match="no time zone"):
        replace(flow(), at=datetime(2027, 4, 1, 3, 59))
    with pytest.raises(CallStoreError, match="cannot merge"):
        merge(flow(), replace(flow(), linkedid="other"))


def test_calls_between_reads_by_arrival(session: Session) -> None:
    record_calls(
        session, [flow(), replace(flow(), linkedid="x.2", at=ARRIVAL + timedelta(hours=1))]
    )
    session.commit()
    found = calls_between(session, ARRIVAL, ARRIVAL + timedelta(minutes=1))
    assert [c.linkedid for c in found] == [LINKEDID]


def test_activity_is_written_once_per_interval(session: Session) -> None:
    add_navigator(session, "bob", "Bob", "PJSIP/nav-bob")
    pause = ActivityFact(
        member="PJSIP/nav-bob",
        state="paused",
        started_at=ARRIVAL,
        ended_at=ARRIVAL + timedelta(minutes=15),
        reason="pause-café",
    )
    assert record_activity(session, [pause, pause]) == 1
    assert record_activity(session, [pause]) == 0
    session.commit()
    (row,) = session.scalars(select(NavigatorActivity)).all()
    assert row.navigator_id is not None and row.local_date == date(2027, 3, 31)
    assert session.scalar(select(func.count()).select_from(NavigatorActivity)) == 1
    with pytest.raises(CallStoreError, match="before it starts"):
        replace(pause, ended_at=ARRIVAL - timedelta(seconds=1))
