"""The database goes down while the listener hears calls: every transfer heard before,
during and after the outage is recorded once when it ends, and so is every call with its
navigators' activity (SQLite and PostgreSQL).

The listener is the real service (link over a socket, interpreter, writer, spool,
database); the fake Asterisk replays the lab's AMI recordings. One scenario is heard
and stored; the database then refuses the listener (PostgreSQL: connections refused
and the open ones ended; SQLite: an exclusive lock held) while two more scenarios are
heard, so their facts go to the spool; when it answers again the spool goes in. The
last scenario is heard once more after the outage (a replay after a reconnect): it must
not be doubled. The calls of a recorded queue scenario (2p2) are all heard during an
outage: their facts wait in the call spool and reach the tables when it ends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from listener.callwriter import fact_from_line
from store.calls import ActivityFact, CallFact, CallRecord, NavigatorActivity
from store.linesettings import SettingsStore
from tests.listener.fake_ami import FakeAmi, raw
from tests.listener.test_calls import P2, calls_of, replay
from tests.listener.test_replay import expected_facts
from tests.listener.test_service import records, run, service_for, until
from tests.listener.test_writer import outage, spooled_keys

BEFORE = "2a1-attended-transfer-ami"
DURING = ["2b3-attended-transfer-cancel", "2c1-blind-transfer-ami"]


def test_transfers_heard_during_a_database_outage_are_recorded_once(
    request: pytest.FixtureRequest, store: SettingsStore, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.jsonl"
    during = sorted(fact.key for name in DURING for fact in expected_facts(name))
    spooled: list[str] = []

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.replay(raw(BEFORE))
                await until(lambda: len(records(store)) == 1)
                with outage(request, store.engine):
                    for name in DURING:
                        await fake.replay(raw(name))
                    await until(lambda: spooled_keys(spool) == during, timeout_s=20)
                    spooled.extend(spooled_keys(spool))
                assert service.writer is not None
                assert await asyncio.to_thread(service.writer.flush, 30.0)
                await fake.replay(raw(DURING[-1]))
                await until(lambda: len(records(store)) >= 3)
                assert await asyncio.to_thread(service.writer.flush, 30.0)
            finally:
                service.stop()
                await task

    run(scenario())
    expected = {
        fact.key: (fact.kind.value, fact.outcome.value, fact.destination)
        for name in [BEFORE, *DURING]
        for fact in expected_facts(name)
    }
    got = [(r.key, (r.kind, r.outcome, r.destination)) for r in records(store)]
    assert spooled == during, "the outage's facts waited in the spool"
    assert len(expected) == 3
    assert sorted(got) == sorted(expected.items()), "each transfer once, none missing"
    assert spooled_keys(spool) == []


def spooled_calls(path: Path) -> list[CallFact | ActivityFact]:
    if not path.exists():
        return []
    return [fact_from_line(line) for line in path.read_text().splitlines()]


def test_calls_heard_during_a_database_outage_are_recorded_once_it_ends(
    request: pytest.FixtureRequest, store: SettingsStore, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.jsonl.calls"
    expected = calls_of(replay(P2))
    spooled: list[CallFact | ActivityFact] = []

    def ended_in_spool() -> set[str]:
        return {
            f.linkedid
            for f in spooled_calls(spool)
            if isinstance(f, CallFact) and f.ended_at is not None
        }

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                with outage(request, store.engine):
                    await fake.replay(raw(f"raw/{P2}"))
                    await until(lambda: ended_in_spool() == set(expected), timeout_s=20)
                    spooled.extend(spooled_calls(spool))
                assert service.call_writer is not None
                assert await asyncio.to_thread(service.call_writer.flush, 30.0)
            finally:
                service.stop()
                await task

    run(scenario())
    with Session(store.engine, expire_on_commit=False) as session:
        calls = {r.linkedid: r for r in session.scalars(select(CallRecord))}
        keys = set(session.scalars(select(NavigatorActivity.key)))
    assert set(calls) == set(expected), "each call once, none missing"
    for linkedid, call in calls.items():
        want = expected[linkedid]
        assert (call.arrived_at, call.ended_at) == (want.at, want.ended_at)
        assert (call.queue_outcome, call.wait_s, call.talk_s) == (
            want.queue_outcome,
            want.wait_s,
            want.talk_s,
        )
    waited = {f.key for f in spooled if isinstance(f, ActivityFact)}
    assert waited, "the outage's intervals waited in the spool"
    assert waited <= keys
    assert spooled_calls(spool) == []
