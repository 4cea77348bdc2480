"""The listener writes the live state: fake Asterisk (recorded bytes) -> tracker -> the live
tables, on SQLite and PostgreSQL; cleared when the link drops, rebuilt from QueueStatus."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.orm import Session

from listener.transcripts import read_raw
from store.linesettings import SettingsStore
from store.live import LiveMember, LiveView, read_live
from store.navigators import add_navigator
from tests.listener.fake_ami import FIXTURES, FakeAmi, raw, recorded_reply
from tests.listener.test_service import run, service_for, until

XFER = "Local/nav-dtmf-atxfer@navigators/n"
NAV = "Local/nav@queue-agents/n"
NAV2 = "Local/nav2@queue-agents/n"


def view(store: SettingsStore) -> LiveView:
    with Session(store.engine) as session:
        return read_live(session, stale_after_s=None)


def member(store: SettingsStore, interface: str) -> LiveMember | None:
    return next((m for m in view(store).members if m.interface == interface), None)


def test_live_state_follows_the_stream_and_the_link(store: SettingsStore, tmp_path: Path) -> None:
    with Session(store.engine) as session, session.begin():
        nav2 = add_navigator(session, "nav2", "Navigator Two", "Local/nav2@queue-agents", NAV2).id
    chunks = read_raw(FIXTURES / "raw" / "2f2-queue-then-warm-transfer.raw")
    cut = next(i for i, c in enumerate(chunks) if b"Event: AgentConnect" in c.data)
    seen: dict[str, LiveView] = {}

    async def scenario() -> None:
        async with FakeAmi() as fake:
            fake.replies["QueueStatus"] = recorded_reply("2f-queue", "QueueStatus")
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                # resync: QueueStatus (2f) lists Navigator One and the paused Navigator Two
                await until(lambda: view(store).synced and member(store, NAV2) is not None)
                seen["synced"] = view(store)
                await fake.replay(chunks[: cut + 1])
                await until(lambda: (m := member(store, XFER)) is not None and m.on_call)
                seen["on_call"] = view(store)
                await fake.replay(chunks[cut + 1 :])
                await until(lambda: (m := member(store, XFER)) is not None and not m.on_call)
                seen["after"] = view(store)
                await fake.stop_listening()  # Asterisk down: no reconnect yet
                await fake.drop()
                await until(lambda: not view(store).connected)
                seen["dropped"] = view(store)
                await fake.start()
                await fake.wait_logins(2)
                await until(lambda: view(store).synced)
                seen["back"] = view(store)
            finally:
                service.stop()
                await task

    run(scenario())
    synced = seen["synced"]
    assert synced.connected and synced.known
    assert [
        (m.interface, m.navigator_id, m.name, m.paused, m.pause_reason) for m in synced.members
    ] == [
        (NAV2, nav2, "Navigator Two", True, "break"),
        (NAV, None, "Navigator One", False, ""),
    ]
    assert synced.waiting == ()

    on_call = next(m for m in seen["on_call"].members if m.interface == XFER)
    assert on_call.call is not None
    assert (on_call.call.caller_number, on_call.call.linkedid, on_call.call.waited_s) == (
        "5145550123",
        "f2-78443-caller",
        0.0,
    )
    assert on_call.call.caller_uniqueid == "f2-78443-caller"
    assert seen["on_call"].on_call == 1

    after = next(m for m in seen["after"].members if m.interface == XFER)
    assert (after.on_call, after.call) == (False, None)

    dropped = seen["dropped"]
    assert (dropped.known, dropped.members, dropped.waiting) == (False, (), ())

    back = seen["back"]
    assert back.known
    assert [m.interface for m in back.members] == [NAV2, NAV]  # the stream's member is gone

    final = view(store)
    assert (final.connected, final.members) == (False, ())
    with Session(store.engine) as session:
        raw_rows = read_live(session, stale_after_s=None)
    assert raw_rows.written_at is not None


def test_no_resync_reply_leaves_the_state_unsynced(store: SettingsStore, tmp_path: Path) -> None:
    """An Asterisk that does not answer QueueStatus (here: the fake has no reply) still
    gets the stream's changes written, marked not synced."""

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.replay(raw("2f-queue"))
                await until(lambda: member(store, NAV) is not None)
                current = view(store)
                assert current.connected and not current.synced
                assert [m.interface for m in current.members] == [
                    NAV,
                    "Local/noanswer@queue-agents/n",
                ]
            finally:
                service.stop()
                await task

    run(scenario())
