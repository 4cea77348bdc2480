"""kill -9 of the listener in the middle of a recorded day, and a restart: every transfer
recorded once (SQLite and PostgreSQL).

The listener is the real ``ivr211 listen`` process; the fake Asterisk replays the lab's
AMI recordings to it. While it hears the first scenarios the database takes no write
(a lock held by the test), so the facts it concludes wait in its writer's queue; it is
killed with SIGKILL halfway through the next scenario. Asterisk goes on meanwhile: the
rest of that call and the next ones happen with no listener, and only CEL has them
(the recordings' CEL rows, written as cel_custom writes them). The listener is started
again (the lock is gone with the dead process), reconciles from CEL from the last
heartbeat the dead one left, and hears one more scenario live. The database must then
hold exactly the agreed records of every scenario: none lost, none twice.

The recordings' CEL rows are moved in time (every row by the same whole number of
seconds) to end before the test runs, as rows Asterisk wrote during the test would.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from listener.actions import ActionOptions
from listener.ami import LinkOptions
from listener.service import ListenerOptions, ListenerService, heartbeat_name
from listener.spool import parse_spool
from listener.transcripts import Chunk, read_raw
from store import models as m
from store.heartbeats import beat, get_heartbeat
from store.linesettings import SettingsStore
from store.navigators import get_status, set_status
from tests.listener.fake_ami import FakeAmi

from .test_cel import FIXTURES as CEL_FIXTURES
from .test_cel import LAB_NOANSWER_TIMEOUT_S
from .test_gap_reconcile import TRANSFERS, Record, expected_records
from .test_replay import TRANSFER_CONTEXT, path_of

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
HEARD = TRANSFERS[:4]  # concluded by the first listener, held in its queue
CUT = TRANSFERS[4]  # the first listener is killed halfway through this one
DOWN = TRANSFERS[5:-1]  # while no listener runs
LIVE = TRANSFERS[-1]  # heard by the second listener
_FACTS_LINE = re.compile(r" listener\.service: facts: (?P<facts>.*)$")


def raw(scenario: str) -> list[Chunk]:
    return read_raw(path_of(scenario))


def cel_rows(scenarios: Sequence[str], shift: timedelta) -> str:
    """The scenarios' CEL rows as cel_custom writes them (every column quoted, no header),
    every ``eventtime`` moved by ``shift``."""
    out: list[str] = []
    for scenario in scenarios:
        with (CEL_FIXTURES / f"{scenario}.cel.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        at = header.index("eventtime")
        for row in rows[1:]:
            moved = datetime.fromisoformat(row[at]) + shift
            row[at] = moved.isoformat(
                sep=" ", timespec="microseconds" if moved.microsecond else "seconds"
            )
            out.append(",".join('"' + f.replace('"', '""') + '"' for f in row) + "\n")
    return "".join(out)


def first_cel_time(scenario: str) -> datetime:
    with (CEL_FIXTURES / f"{scenario}.cel.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return datetime.fromisoformat(rows[1][rows[0].index("eventtime")])


def write_config(tmp_path: Path, url: str, port: int) -> Path:
    secret = tmp_path / "ami-secret"
    secret.write_text("test-secret\n")
    config = tmp_path / "ivr211.toml"
    config.write_text(
        f"""
[database]
url = "{url}"

[ami]
host = "127.0.0.1"
port = {port}
username = "ivr211"
secret_file = "{secret}"

[listener]
spool_path = "{tmp_path / "spool.jsonl"}"
cel_path = "{tmp_path / "Master.csv"}"
transfer_context = "{TRANSFER_CONTEXT}"

[pbx]
timezone = "UTC"

[voicemail]
enabled = false

[logging]
level = "INFO"
""",
        encoding="utf-8",
    )
    return config


class Listener:
    """One ``ivr211 listen`` process, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ivr211.cli",
                    "listen",
                    "--config",
                    str(config),
                    "--noanswer-timeout",
                    str(LAB_NOANSWER_TIMEOUT_S),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def submitted(self) -> set[str]:
        """Keys of the facts this listener handed to its writer."""
        keys: set[str] = set()
        for line in self.text().splitlines():
            match = _FACTS_LINE.search(line)
            if match:
                keys.update(part.split(" ")[0] for part in match["facts"].split(", "))
        return keys

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(TIMEOUT_S) == -signal.SIGKILL

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(TIMEOUT_S)

    def ensure_gone(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT_S)


async def until(check: Callable[[], bool], what: str, listener: Listener) -> None:
    async def loop() -> None:
        while not await asyncio.to_thread(check):
            if listener.process.poll() is not None:
                pytest.fail(f"the listener exited ({listener.process.returncode}) {what}")
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"timed out {what}:\n{listener.text()[-4000:]}")


@asynccontextmanager
async def no_writes(engine: Engine) -> AsyncIterator[None]:
    """The transfer table takes no write until the block ends (reads go on)."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        locker = sqlite3.connect(engine.url.database, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            yield
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        return
    import psycopg

    url = engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as locker:
        locker.execute("LOCK TABLE transfer_records IN EXCLUSIVE MODE")
        yield
        locker.rollback()


def records(engine: Engine) -> list[tuple[str, str, str, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(select(m.TransferRecord))
        return [(r.key, r.kind, r.outcome, r.destination) for r in rows]


def stored(engine: Engine) -> dict[str, Record]:
    return {key: (kind, outcome, dest) for key, kind, outcome, dest in records(engine)}


def connected(engine: Engine) -> bool:
    with Session(engine) as session:
        status = get_status(session)
    return status is not None and status.state == "connected"


def test_kill_9_in_the_middle_of_a_day_loses_nothing_and_doubles_nothing(
    store: SettingsStore, tmp_path: Path
) -> None:
    engine = store.engine
    expected = expected_records(TRANSFERS)
    heard = set(expected_records(HEARD))
    spool = tmp_path / "spool.jsonl"
    figures: dict[str, int] = {}
    logs: list[str] = []

    async def day() -> None:
        async with FakeAmi() as fake:
            url = engine.url.render_as_string(hide_password=False)
            config = write_config(tmp_path, url, fake.port)
            first = Listener(config, tmp_path / "first.log")
            try:
                await fake.wait_logins(1, TIMEOUT_S)
                await until(lambda: connected(engine), "before its first heartbeat", first)
                async with no_writes(engine):
                    for scenario in HEARD:
                        await fake.replay(raw(scenario))
                    await until(
                        lambda: heard <= first.submitted(), "before concluding the facts", first
                    )
                    chunks = raw(CUT)
                    await fake.replay(chunks[: len(chunks) // 2])
                    first.kill()
            finally:
                first.ensure_gone()

            # What the dead listener left: the database and its spool.
            kept = set(stored(engine))
            spooled = (
                {f.key for f in parse_spool(spool.read_bytes())[0]} if spool.exists() else set()
            )
            lost_at_kill = first.submitted() - kept - spooled
            figures["submitted_unstored_at_kill"] = len(lost_at_kill)
            assert lost_at_kill, "the kill must cost facts still in the queue"

            # Asterisk wrote CEL all along; the day's calls until now are in Master.csv.
            now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # rows in UTC, naive
            shift = now - timedelta(minutes=30) - first_cel_time(TRANSFERS[0])
            (tmp_path / "Master.csv").write_text(
                cel_rows([*HEARD, CUT, *DOWN], shift), encoding="utf-8"
            )

            second = Listener(config, tmp_path / "second.log")
            try:
                await fake.wait_logins(2, TIMEOUT_S)
                await fake.replay(raw(LIVE))
                live = set(expected_records([LIVE]))
                await until(lambda: live <= set(stored(engine)), "before recording live", second)
                assert second.stop() == 0  # a stop waits for the reconciliation
            finally:
                second.ensure_gone()
            logs.append(second.text())

    asyncio.run(asyncio.wait_for(day(), 4 * TIMEOUT_S))
    rows = records(engine)
    final = stored(engine)
    figures["lost"] = len(expected.keys() - final.keys())
    figures["doubled"] = len(rows) - len(expected.keys() & final.keys())
    print(f"kill -9 of the listener ({engine.dialect.name}): {figures}")
    assert final == expected
    assert (figures["lost"], figures["doubled"]) == (0, 0)
    (said,) = logs
    assert "Traceback" not in said
    assert "reconciling from CEL since the last listener's heartbeat" in said


def test_a_second_listener_on_the_same_spool_is_refused_and_says_why(
    store: SettingsStore, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake:
            url = store.engine.url.render_as_string(hide_password=False)
            config = write_config(tmp_path, url, fake.port)
            first = Listener(config, tmp_path / "first.log")
            try:
                await fake.wait_logins(1, TIMEOUT_S)
                await until(lambda: connected(store.engine), "before connecting", first)
                second = Listener(config, tmp_path / "second.log")
                code = await asyncio.to_thread(second.process.wait, TIMEOUT_S)
                assert code == 2
                said = second.text()
                assert f"the spool {tmp_path / 'spool.jsonl'} is held by another listener" in said
                assert f"(pid {first.process.pid})" in said
                assert "Traceback" not in said
                assert fake.logins == 1  # the second one never logged in
                assert connected(store.engine)  # nor touched the first one's status
                first.kill()
            finally:
                first.ensure_gone()
            third = Listener(config, tmp_path / "third.log")  # after kill -9: not refused
            try:
                await fake.wait_logins(2, TIMEOUT_S)
                assert third.stop() == 0
            finally:
                third.ensure_gone()

    asyncio.run(asyncio.wait_for(scenario(), 4 * TIMEOUT_S))


def test_a_call_in_progress_at_restart_is_recorded_once(
    store: SettingsStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The dead listener saw the start of a transfer, the new one hears only its end: the
    first reconciliation at start finds it unfinished in CEL; a later pass from the same
    mark records it (and the end heard live adds nothing)."""
    scenario = "2b1-attended-transfer-noanswer"  # restart while the consultation rings
    expected = expected_records([scenario])
    cel = tmp_path / "Master.csv"
    now = datetime.now(UTC).replace(microsecond=0)
    shift = now.replace(tzinfo=None) - timedelta(minutes=5) - first_cel_time(scenario)
    lines = cel_rows([scenario], shift).splitlines(keepends=True)
    cel.write_text("".join(lines[: len(lines) * 6 // 10]), encoding="utf-8")
    with Session(store.engine) as session, session.begin():
        set_status(session, "connected", "the listener that died", now - timedelta(minutes=6))
    chunks = raw(scenario)

    def passes() -> int:
        return sum(r.getMessage().startswith("reconciliation from") for r in caplog.records)

    async def restart() -> None:
        async with FakeAmi() as fake:
            service = ListenerService(
                store.engine,
                LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
                store.load,
                ListenerOptions(
                    spool_path=tmp_path / "spool.jsonl",
                    cel_path=cel,
                    poll_s=0.05,
                    pbx_timezone=UTC,
                    noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S,
                    reconcile_again_s=0.2,
                    actions=ActionOptions(transfer_context=TRANSFER_CONTEXT),
                ),
            )
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(TIMEOUT_S)
                await wait_for(lambda: passes() >= 1, "the reconciliation at start")
                assert stored(store.engine) == {}
                # the end of the call: heard live, and written to CEL by Asterisk
                await fake.replay(chunks[len(chunks) * 6 // 10 :])
                cel.write_text("".join(lines), encoding="utf-8")
                await wait_for(lambda: stored(store.engine) == expected, "the late pass")
            finally:
                service.stop()
                await task

    with caplog.at_level(logging.INFO, "listener.service"):
        asyncio.run(asyncio.wait_for(restart(), 4 * TIMEOUT_S))
    assert len(records(store.engine)) == 1
    assert stored(store.engine) == expected


async def wait_for(check: Callable[[], bool], what: str) -> None:
    async def loop() -> None:
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), TIMEOUT_S / 2)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def test_the_mark_is_the_last_heartbeat_of_a_running_listener(
    store: SettingsStore, tmp_path: Path
) -> None:
    """A listener died; a start refused for want of the AMI secret then wrote the status
    row (now), and another PBX's listener beats on the same database. The next listener
    reconciles from the last heartbeat the dead one wrote, not from either: the calls in
    between are recorded."""
    scenario = "2a1-attended-transfer-ami"
    now = datetime.now(UTC).replace(microsecond=0)
    shift = now.replace(tzinfo=None) - timedelta(minutes=9) - first_cel_time(scenario)
    cel = tmp_path / "Master.csv"
    cel.write_text(cel_rows([scenario], shift), encoding="utf-8")
    expected = expected_records([scenario])
    names: list[str] = []

    async def start() -> None:
        async with FakeAmi() as fake:
            link = LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05)
            with Session(store.engine) as session, session.begin():
                name = heartbeat_name(link)
                beat(session, name, now - timedelta(hours=1), now - timedelta(minutes=7))
                set_status(session, "stopped", "not started: AMI secret: not set", now)
                # another PBX's listener on the same database, alive
                other = heartbeat_name(dataclasses.replace(link, host="192.0.2.7"))
                beat(session, other, now - timedelta(hours=1), now)
            names.append(name)
            service = ListenerService(
                store.engine,
                link,
                store.load,
                ListenerOptions(
                    spool_path=tmp_path / "spool.jsonl",
                    cel_path=cel,
                    poll_s=0.05,
                    pbx_timezone=UTC,
                    reconcile_lookback=timedelta(minutes=3),
                    actions=ActionOptions(transfer_context=TRANSFER_CONTEXT),
                ),
            )
            task = asyncio.create_task(service.run())
            try:
                await wait_for(lambda: stored(store.engine) == expected, "the reconciliation")
                await wait_for(lambda: own_beat() > now, "this listener's own heartbeat")
            finally:
                service.stop()
                await task

    def own_beat() -> datetime:
        with Session(store.engine) as session:
            mark = get_heartbeat(session, names[0])
        assert mark is not None
        return mark.heartbeat_at

    asyncio.run(asyncio.wait_for(start(), 4 * TIMEOUT_S))
    assert stored(store.engine) == expected
