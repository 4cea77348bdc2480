"""The roll-ups stay equal to the same sums taken from the raw tables, whatever order the
sources complete a call in, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, true
from sqlalchemy.orm import Session

from store import rollups
from store import transfer_rollups as tr
from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
    record_activity,
    record_calls,
)
from store.navigators import add_navigator

# 00:00:30 on April 1, 2027 in Montréal (EDT): fiscal 2027; the flow saw the call 40 s
# earlier, on March 31 (fiscal 2026).
JOINED = datetime(2027, 4, 1, 4, 0, 30, tzinfo=UTC)


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        add_navigator(sess, "alice", "Alice", "PJSIP/nav-alice")
        sess.commit()
        yield sess


def table_rows(session: Session, model: type[Any]) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in session.execute(select(model.__table__)).all())


def raw_rows(session: Session, model: type[Any]) -> list[tuple[Any, ...]]:
    dialect = session.get_bind().dialect.name
    query = rollups.call_aggregate(model.__tablename__, dialect, true())
    return sorted(tuple(row) for row in session.execute(query).all())


def monthly_from_daily(session: Session, daily: type[Any]) -> list[tuple[Any, ...]]:
    """The daily rows folded into months here, in Python."""
    monthly: Any = rollups.MONTHLY[daily].__table__
    names = [c.key for c in monthly.columns]
    keys = [c.key for c in monthly.primary_key.columns if c.key != "local_date"]
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in session.execute(select(daily.__table__)).mappings():
        key = (row["local_date"].replace(day=1), *(row[k] for k in keys))
        into = folded.setdefault(key, {})
        for name in names:
            if name == "local_date" or name in keys:
                continue
            value = row[name]
            if name == "wait_max_s":
                known = [v for v in (into.get(name), value) if v is not None]
                into[name] = max(known) if known else None
            else:
                into[name] = into.get(name, 0) + value
    out = []
    for key, values in folded.items():
        record = dict(zip(["local_date", *keys], key, strict=True)) | values
        out.append(tuple(record[n] for n in names))
    return sorted(out)


def assert_rollups_match(session: Session) -> None:
    for model in rollups.CALL_ROLLUPS:
        assert table_rows(session, model) == raw_rows(session, model), model.__tablename__
    for daily, monthly in rollups.MONTHLY.items():
        assert table_rows(session, monthly) == monthly_from_daily(session, daily), daily


def ami(linkedid: str, at: datetime, **changes: Any) -> CallFact:
    fact = CallFact(
        linkedid=linkedid,
        at=at,
        source=CallSource.AMI,
        queue="navigators",
        queue_joined_at=at,
        queue_outcome=QueueOutcome.ANSWERED,
        wait_s=30.4,
        answered_interface="PJSIP/nav-alice",
        talk_s=120.0,
    )
    return replace(fact, **changes)


def flow(linkedid: str, at: datetime, **changes: Any) -> CallFact:
    fact = CallFact(
        linkedid=linkedid,
        at=at,
        source=CallSource.FLOW,
        line_state="hours",
        language="fr",
        path="lang:fr/main:1",
        route="queue",
    )
    return replace(fact, **changes)


def test_a_call_moved_to_the_previous_day_leaves_the_later_day(session: Session) -> None:
    record_calls(session, [ami("a.1", JOINED)])
    session.commit()
    (hour,) = session.scalars(select(rollups.CallHourRollup)).all()
    assert (hour.local_date, hour.language, hour.answered) == (date(2027, 4, 1), "", 1)
    (wait,) = session.scalars(select(rollups.CallWaitRollup)).all()
    assert (wait.outcome, wait.seconds) == ("answered", 31)  # 30.4 s rounded up
    record_calls(session, [flow("a.1", JOINED - timedelta(seconds=40))])
    session.commit()
    (hour,) = session.scalars(select(rollups.CallHourRollup)).all()
    assert (hour.local_date, hour.local_hour, hour.language) == (date(2027, 3, 31), 23, "fr")
    assert (hour.received, hour.offered, hour.answered, hour.talk_s) == (1, 1, 1, 120.0)
    assert_rollups_match(session)


def test_rollups_equal_the_raw_sums_after_mixed_batches(session: Session) -> None:
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the night clocks go back
    facts = []
    for n in range(40):
        at = start + timedelta(minutes=17 * n)
        outcome = (QueueOutcome.ANSWERED, QueueOutcome.ABANDONED, QueueOutcome.FULL)[n % 3]
        facts.append(flow(f"c.{n}", at, language=("fr", "en", None)[n % 3]))
        facts.append(ami(f"c.{n}", at + timedelta(seconds=20), queue_outcome=outcome))
    record_calls(session, facts[::2])
    session.commit()
    assert_rollups_match(session)
    record_calls(session, facts[1::2])
    record_calls(session, [ami("c.0", start, wait_s=99.0)])  # known values stay
    session.commit()
    assert_rollups_match(session)
    assert sum(r.calls for r in session.scalars(select(rollups.CallWaitRollup))) == 27


def test_rebuild_gives_what_the_writes_kept(session: Session) -> None:
    record_calls(session, [ami("b.1", JOINED), flow("b.2", JOINED, research_message=True)])
    record_activity(
        session,
        [
            ActivityFact("PJSIP/nav-alice", "logged_in", JOINED, JOINED + timedelta(hours=2)),
            ActivityFact("PJSIP/nav-bob", "paused", JOINED, JOINED + timedelta(minutes=90)),
        ],
    )
    session.commit()
    kept = {
        model: table_rows(session, model)
        for model in (*rollups.CALL_ROLLUPS, rollups.ActivityRollup, *rollups.MONTHLY.values())
    }
    counts = rollups.rebuild(session)
    session.commit()
    assert counts["call_hour_rollups"] == 2
    for model, rows in kept.items():
        assert table_rows(session, model) == rows
    assert_rollups_match(session)
    (month,) = table_rows(session, rollups.ActivityMonthRollup)[:1]
    assert month[0] == date(2027, 4, 1)


def test_activity_is_cut_at_local_hours_and_counted_once(session: Session) -> None:
    begin = datetime(2026, 11, 1, 5, 20, tzinfo=UTC)  # 01:20 EDT; at 06:00 UTC, 01:00 EST
    pause = ActivityFact("PJSIP/nav-alice", "paused", begin, begin + timedelta(minutes=70))
    record_activity(session, [pause])
    record_activity(session, [pause])  # replayed: nothing added
    session.commit()
    rows = table_rows(session, rollups.ActivityRollup)
    (navigator,) = {row[2] for row in rows}
    assert navigator != 0
    # 40 min in the first 1 a.m. (EDT), 30 min in the second (EST): one local hour.
    assert [(row[0], row[1], row[3], row[4]) for row in rows] == [
        (date(2026, 11, 1), 1, "paused", 4200.0)
    ]


def test_two_writers_of_one_call_leave_the_right_days(migrated_engine: Engine) -> None:
    """PostgreSQL, two transactions: the queue's fact (April 1) is written and not yet
    committed when the flow's fact (March 31, earlier) comes in another transaction.
    The second waits for the first, then sees the call on April 1 and takes it out."""
    if migrated_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    first = Session(migrated_engine)
    record_calls(first, [ami("w.1", JOINED)])  # not committed yet
    done = threading.Event()
    failure: list[BaseException] = []

    def second_writer() -> None:
        try:
            with Session(migrated_engine) as second:
                record_calls(second, [flow("w.1", JOINED - timedelta(seconds=40))])
                second.commit()
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    with migrated_engine.connect() as watcher:  # until the second writer waits on a lock
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()"
        )
        while not done.is_set() and not watcher.execute(waiting).scalar():
            done.wait(0.01)
    first.commit()
    first.close()
    thread.join()
    assert failure == []
    with Session(migrated_engine) as session:
        assert_rollups_match(session)
        days = [row[0] for row in table_rows(session, rollups.CallHourRollup)]
        assert days == [date(2027, 3, 31)]


def test_transfer_roll_ups_are_added_once_and_rebuilt_the_same(session: Session) -> None:
    from store.facts import Kind, Outcome, TransferFact
    from store.transfers import record_facts

    def transfer(n: int, kind: Kind, outcome: Outcome, channel: str) -> TransferFact:
        return TransferFact(
            key=f"t:{n}", kind=kind, outcome=outcome, started_at=JOINED + timedelta(minutes=n),
            ended_at=None, linkedid=f"1.{n}", navigator_channel=channel, destination="811",
            target_exten="811", target_context="navigator-transfers",
        )  # fmt: skip

    facts = [
        transfer(1, Kind.ATTENDED, Outcome.COMPLETED, "PJSIP/nav-alice"),
        transfer(2, Kind.REFERRAL, Outcome.COMPLETED, "PJSIP/nav-alice"),
        transfer(3, Kind.BLIND, Outcome.BUSY, "PJSIP/nav-alice"),
        transfer(4, Kind.THREEWAY, Outcome.COMPLETED, "PJSIP/unknown"),
    ]
    assert record_facts(session, facts) == 4
    assert record_facts(session, facts) == 0  # replayed: nothing added
    session.commit()
    added = {model: table_rows(session, model) for model in tr.TRANSFER_ROLLUPS}
    for model, rows in added.items():
        query = tr.aggregate(model, true(), session.get_bind().dialect.name)
        raw = sorted(tuple(r) for r in session.execute(query).all())
        assert rows == raw, model.__tablename__
    navigators = added[tr.TransferNavigatorRollup]
    # Unknown (0): one three-way done; Alice: one attended done, one referral, one busy.
    assert [r[2:] for r in navigators] == [(1, 0, 1), (1, 1, 2)]
    assert [r[1:] for r in added[tr.TransferDayRollup]] == [
        ("811", "attended", "completed", 1),
        ("811", "blind", "busy", 1),
        ("811", "referral", "completed", 1),
        ("811", "threeway", "completed", 1),
    ]
    rollups.rebuild(session)
    assert {model: table_rows(session, model) for model in tr.TRANSFER_ROLLUPS} == added


def test_rebuilt_transfer_roll_ups_have_fresh_statistics(session: Session) -> None:
    """PostgreSQL: the rebuild analyses the roll-ups it refilled, so the planner knows
    their size (a table never analysed has ``reltuples`` -1) before autovacuum runs."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite's planner keeps no statistics unless asked")
    from store.facts import Kind, Outcome, TransferFact
    from store.transfers import record_facts

    facts = [
        TransferFact(
            key=f"t:{n}",
            kind=Kind.ATTENDED,
            outcome=Outcome.COMPLETED,
            started_at=JOINED + timedelta(days=n),
            ended_at=None,
            linkedid=f"1.{n}",
            navigator_channel="PJSIP/nav-alice",
            destination="811",
            target_exten="811",
            target_context="navigator-transfers",
            answer_delay_s=float(n),
        )
        for n in range(30)
    ]
    assert record_facts(session, facts) == 30
    session.commit()
    rollups.rebuild(session)
    session.commit()
    names = [model.__tablename__ for model in tr.TRANSFER_ROLLUPS]
    estimated: dict[str, float] = dict(
        session.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": names},
        ).all()
    )
    counted = {name: session.scalar(text(f"SELECT count(*) FROM {name}")) for name in names}
    assert counted == dict.fromkeys(names, 30)
    assert estimated == counted
