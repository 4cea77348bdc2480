"""The listener process end to end: fake Asterisk replaying 2a1 -> interpreter -> writer
-> database (SQLite and PostgreSQL), and the command table (expired commands never sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from listener.actions import ActionOptions
from listener.ami import LinkOptions
from listener.service import ListenerOptions, ListenerService
from store import commands
from store import models as m
from store.linesettings import SettingsStore
from store.navigators import add_navigator, get_status
from tests.listener.fake_ami import FakeAmi, raw

TIMEOUT = 30.0


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def loop() -> None:
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), timeout_s)


def service_for(fake: FakeAmi, store: SettingsStore, tmp_path: Path) -> ListenerService:
    return ListenerService(
        store.engine,
        LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
        store.load,
        ListenerOptions(
            spool_path=tmp_path / "spool.jsonl",
            poll_s=0.05,
            actions=ActionOptions(transfer_context="emergency-services"),
        ),
    )


def records(store: SettingsStore) -> list[m.TransferRecord]:
    with Session(store.engine) as session:
        return list(session.scalars(select(m.TransferRecord)))


def test_2a1_is_recorded_once_across_a_replay_after_reconnect(
    store: SettingsStore, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.replay(raw("2a1-attended-transfer-ami"))
                await until(lambda: len(records(store)) == 1)
                await fake.drop()
                await fake.wait_logins(2)
                await service.link.wait_connected(5)
                await fake.replay(raw("2a1-attended-transfer-ami"))
                await until(lambda: service.interpreter.stats.get("facts", 0) >= 2)
                assert service.writer is not None
                assert await asyncio.to_thread(service.writer.flush, 10.0)

                def connected() -> bool:
                    # written from the status thread, which may lag behind on a busy host
                    with Session(store.engine) as session:
                        status = get_status(session)
                    return status is not None and status.state == "connected"

                await until(connected)
            finally:
                service.stop()
                await task

    run(scenario())
    (record,) = records(store)
    assert (record.kind, record.outcome, record.destination) == ("attended", "completed", "911")
    assert record.key.startswith("atxfer:")
    assert record.navigator_channel == "Local/nav-manual@navigators"
    with Session(store.engine) as session:
        status = get_status(session)
    assert status is not None and status.state == "stopped"


def test_expired_command_is_never_sent_and_a_due_one_runs(
    store: SettingsStore, tmp_path: Path
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    with Session(store.engine) as session, session.begin():
        add_navigator(session, "alice", "Alice", "Local/nav-manual@navigators")
        stale = commands.submit(
            session,
            "transfer",
            {"user": "alice", "destination": "911", "mode": "attended"},
            "test",
            ttl_s=10,
            now=past,
        )
        referral = commands.submit(
            session,
            "referral",
            {"user": "alice", "linkedid": "a1-78443-caller", "destination": "811"},
            "test",
        )

    def status_of(command_id: int) -> str:
        with Session(store.engine) as session:
            return commands.get(session, command_id).status

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await until(lambda: status_of(referral) == "ok")
                await until(lambda: status_of(stale) == "expired")
                await asyncio.sleep(0.2)  # a few more polls
                assert fake.actions("Atxfer") == []
                sent = [a["Action"] for a in fake.received]
                # the state resync and the line's values for the dialplan (Setvar GLOBAL)
                others = ("QueueStatus", "Status", "Setvar")
                assert [a for a in sent if a not in others] == ["Login"]
            finally:
                service.stop()
                await task

    run(scenario())
    with Session(store.engine) as session:
        done = commands.get(session, referral)
        count = session.scalar(select(func.count()).select_from(m.TransferRecord))
    assert done.result is not None
    assert done.result["key"] == "referral:a1-78443-caller:811"
    assert count == 1


def test_cli_nav_and_listener_status(
    store: SettingsStore,
    tmp_path: Path,
    monkeypatch: Any,
    capsys: Any,
) -> None:
    from ivr211.cli import main

    monkeypatch.setenv("IVR211_DATABASE__URL", store.engine.url.render_as_string(False))
    with Session(store.engine) as session, session.begin():
        add_navigator(session, "alice", "Alice", "Local/nav-manual@navigators")
    assert main(["listener", "status"]) == 1
    assert "never ran" in capsys.readouterr().out
    assert main(["nav", "transfer", "alice", "nowhere"]) == 2
    assert "unknown destination 'nowhere'" in capsys.readouterr().err
    assert main(["nav", "cancel", "bob"]) == 2

    codes: list[int] = []

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                argv = ["nav", "referral", "a1-78443-caller", "811", "--user", "alice"]
                codes.append(await asyncio.to_thread(main, argv))
                codes.append(
                    await asyncio.to_thread(main, ["nav", "login", "alice", "--wait", "5"])
                )
            finally:
                service.stop()
                await task

    run(scenario())
    out, err = capsys.readouterr()
    assert codes == [0, 1]
    assert "referral to 811 recorded" in out
    assert "did not confirm QueueAdd" in err
    assert main(["listener", "status"]) == 1
    assert "state: stopped" in capsys.readouterr().out


def test_the_reconcile_after_a_reconnect_reads_cel_times_in_the_pbx_zone(
    store: SettingsStore, tmp_path: Path
) -> None:
    """2a1's CEL rows, moved to a minute ago and written as a PBX whose cel.conf still has
    a dateformat would write them: local time of its zone (Honolulu, five hours behind the
    line's), no offset. The reconciliation the listener runs after a reconnect must read
    them in ``[pbx] timezone``; in the line's zone they would fall five hours early,
    before the reconnect's look-back, and the transfer would stay missing."""
    import csv
    from zoneinfo import ZoneInfo

    from listener.cel import parse_eventtime
    from tests.listener.test_gap_reconcile import CEL_FIXTURES

    pbx_zone = ZoneInfo("Pacific/Honolulu")
    with (CEL_FIXTURES / "2a1-attended-transfer-ami.cel.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    first = parse_eventtime(rows[0][1], UTC)[0]
    shift = datetime.now(UTC) - timedelta(minutes=1) - first
    lines = []
    for row in rows:
        when = (parse_eventtime(row[1], UTC)[0] + shift).astimezone(pbx_zone)
        row[1] = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        lines.append(",".join('"' + f.replace('"', '""') + '"' for f in row) + "\n")
    cel_path = tmp_path / "Master.csv"
    cel_path.write_text("".join(lines), encoding="utf-8")

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = ListenerService(
                store.engine,
                LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
                store.load,
                ListenerOptions(
                    spool_path=tmp_path / "spool.jsonl",
                    cel_path=cel_path,
                    poll_s=0.05,
                    actions=ActionOptions(transfer_context="emergency-services"),
                    pbx_timezone=pbx_zone,
                ),
            )
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await fake.drop()
                await fake.wait_logins(2)
                await service.link.wait_connected(5)
                await until(lambda: len(records(store)) == 1)
            finally:
                service.stop()
                await task

    run(scenario())
    (record,) = records(store)
    assert (record.kind, record.outcome, record.destination) == ("attended", "completed", "911")
    started = (
        record.started_at.replace(tzinfo=UTC)
        if record.started_at.tzinfo is None
        else record.started_at
    )
    assert abs(started - (first + shift)) < timedelta(seconds=30)


def test_a_console_transfer_to_a_number_still_to_fill_in_is_a_failed_attempt(
    store: SettingsStore, tmp_path: Path
) -> None:
    """The seed leaves the crisis centre's number empty. The navigator is on 2a1's call
    and asks the console for a warm transfer there: nothing reaches Asterisk, the command
    answers ``no_number``, and one failed attempt is recorded on that call."""
    with Session(store.engine) as session, session.begin():
        add_navigator(session, "alice", "Alice", "Local/nav-manual@navigators")
    nav = "Local/nav-manual@navigators"
    ids: list[int] = []

    def submit() -> int:
        with Session(store.engine) as session, session.begin():
            return commands.submit(
                session,
                "transfer",
                {"user": "alice", "destination": "crise", "mode": "attended"},
                "dashboard:alice",
            )

    def finished(command_id: int) -> bool:
        with Session(store.engine) as session:
            return commands.get(session, command_id).status in ("ok", "error")

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                replay = asyncio.create_task(
                    fake.replay(raw("2a1-attended-transfer-ami"), expect={"Atxfer": {1}})
                )

                def on_call() -> bool:
                    leg = service.tracker.find(nav)
                    return leg is not None and bool(service.tracker.peers(leg))

                await until(on_call)
                for _ in range(2):  # clicked twice: still one attempt on this call
                    ids.append(await asyncio.to_thread(submit))
                    await until(lambda: finished(ids[-1]))
                assert fake.actions("Atxfer") == []
                replay.cancel()
                await asyncio.gather(replay, return_exceptions=True)
            finally:
                service.stop()
                await task

    run(scenario())
    with Session(store.engine) as session:
        done = [commands.get(session, i) for i in ids]
    assert [c.status for c in done] == ["error", "error"]
    assert [c.result["code"] for c in done if c.result] == ["no_number", "no_number"]
    (record,) = records(store)
    assert (record.kind, record.outcome, record.destination) == ("attended", "failed", "crise")
    assert record.key == f"nonumber:{record.linkedid}:crise"
    assert record.answer_delay_s is None
    assert record.navigator_channel == nav and record.navigator_id is not None
    assert (record.target_exten, record.source) == ("101", "action")


class Recorder:
    """A companion (``ListenerOptions.companions``) that notes what the listener does."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.events: list[Mapping[str, str]] = []

    def start(self) -> None:
        self.calls.append("start")

    def on_event(self, event: Mapping[str, str]) -> None:
        self.events.append(event)

    def stop(self) -> None:
        self.calls.append("stop")


def test_a_companion_starts_hears_every_event_and_stops_with_the_listener(
    store: SettingsStore, tmp_path: Path
) -> None:
    """How ivr211 runs the research box's sweeper beside the listener."""
    companion = Recorder()
    waiting = (
        b"Event: MessageWaiting\r\nPrivilege: call,all\r\nMailbox: 1001@lab211\r\n"
        b"Waiting: 1\r\nNew: 1\r\nOld: 0\r\n\r\n"
    )

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = ListenerService(
                store.engine,
                LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
                store.load,
                ListenerOptions(spool_path=tmp_path / "spool.jsonl", companions=(companion,)),
            )
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                assert companion.calls == ["start"]
                await fake.push(waiting)
                await until(
                    lambda: any(e.get("Event") == "MessageWaiting" for e in companion.events)
                )
            finally:
                service.stop()
                await task

    run(scenario())
    assert companion.calls == ["start", "stop"]
    [event] = [e for e in companion.events if e.get("Event") == "MessageWaiting"]
    assert event["Mailbox"] == "1001@lab211"
