"""The listener writes call records and navigator activity: fake Asterisk (the recorded
bytes of 2p2) -> call follower -> call writer -> the tables, on SQLite and PostgreSQL.
A link that drops in the middle of a call concludes nothing of what it did not see."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from listener.transcripts import read_raw
from store.calls import CallRecord, NavigatorActivity
from store.linesettings import SettingsStore
from tests.listener.fake_ami import FIXTURES, FakeAmi
from tests.listener.test_calls import P2, calls_of, replay
from tests.listener.test_service import run, service_for, until


def rows(store: SettingsStore) -> dict[str, CallRecord]:
    with Session(store.engine, expire_on_commit=False) as session:
        return {r.linkedid: r for r in session.scalars(select(CallRecord))}


def intervals(store: SettingsStore) -> list[tuple[str, str]]:
    with Session(store.engine) as session:
        found = session.execute(
            select(NavigatorActivity.member, NavigatorActivity.state).order_by(
                NavigatorActivity.started_at
            )
        ).all()
    return [(member, state) for member, state in found]


def test_recorded_calls_reach_the_tables_once_across_a_drop(
    store: SettingsStore, tmp_path: Path
) -> None:
    chunks = read_raw(FIXTURES / "raw" / f"{P2}.raw")
    connect = next(i for i, c in enumerate(chunks) if b"Event: AgentConnect" in c.data)
    expected = calls_of(replay(P2))

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.replay(chunks[: connect + 1])
                # the first caller answered: written before the call ends
                await until(lambda: "p2a-574-caller" in rows(store))
                await fake.drop()
                await fake.wait_logins(2)
                await service.link.wait_connected(5)
                await fake.replay(chunks[connect + 1 :])
                await until(lambda: (r := rows(store).get("p2b-574-caller")) is not None
                            and r.ended_at is not None)  # fmt: skip
                assert service.call_writer is not None
                assert await asyncio.to_thread(service.call_writer.flush, 10.0)
            finally:
                service.stop()
                await task

    run(scenario())
    found = rows(store)
    assert set(found) == {"p2a-574-caller", "p2b-574-caller"}
    first, second = found["p2a-574-caller"], found["p2b-574-caller"]
    # seen until AgentConnect, then the link dropped: no talk time, no end guessed
    assert (first.queue_outcome, first.wait_s, first.ring_s) == ("answered", 5.0, 5.0)
    assert (first.talk_s, first.ended_at) == (None, None)
    assert first.arrived_at == expected["p2a-574-caller"].at
    # seen whole after the reconnect
    want = expected["p2b-574-caller"]
    assert (second.queue_outcome, second.wait_s, second.ring_s, second.talk_s) == (
        "answered",
        1.0,
        1.0,
        7.0,
    )
    assert (second.completed_by, second.ended_at) == ("caller", want.ended_at)
    assert second.answered_member == "Navigator Long"
    assert second.seen_ami
    nav5, navlong = "Local/nav5@queue-agents/n", "Local/navlong@queue-agents/n"
    # nav5's call began before the drop: only the work after it, told by AgentComplete
    assert intervals(store) == [
        (nav5, "ringing"),
        (nav5, "after_call_work"),
        (navlong, "ringing"),
        (navlong, "on_call"),
        (navlong, "after_call_work"),
    ]
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(CallRecord)) == 2
    spool = tmp_path / "spool.jsonl.calls"
    assert not spool.exists() or not spool.read_bytes()
