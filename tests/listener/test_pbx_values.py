"""An admin change reaches Asterisk within seconds, FastAGI server or not: the listener
pushes the line's values as dialplan globals (listener/pbxvalues.py).

The listener runs against the fake AMI server over a real TCP socket; the fake answers
``Setvar`` with the replies 2r recorded for the listener's rights (write = call,...):
``Variable Set`` for ``GLOBAL(NAME)``, ``Variable not set`` for ``DB(...)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from ivr.dialplan import global_name
from ivr.mirror import line_mirror
from ivr.settings import DayHours, LineSettings
from listener.actions import ActionOptions
from listener.ami import LinkOptions
from listener.pbxvalues import setvar_global
from listener.service import ListenerOptions, ListenerService
from store.linesettings import SettingsStore, set_destination_number, set_hours
from tests.listener.fake_ami import FakeAmi, recorded_2r, recorded_reply, with_action_id

TIMEOUT = 30.0
VERSION = "GLOBAL(IVR211_VERSION)"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout_s)


def service_for(fake: FakeAmi, store: SettingsStore, tmp_path: Path) -> ListenerService:
    return ListenerService(
        store.engine,
        LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
        store.load,
        ListenerOptions(
            spool_path=tmp_path / "spool.jsonl",
            poll_s=0.05,
            pbx_push_s=0.05,
            live_resync=False,
            actions=ActionOptions(transfer_context="navigator-transfers"),
        ),
    )


def setvars(fake: FakeAmi) -> list[tuple[str, str]]:
    return [(a["Variable"], a.get("Value", "")) for a in fake.actions("Setvar")]


def expected_globals(store: SettingsStore) -> dict[str, str]:
    values = line_mirror(store.load(), datetime.now(UTC))
    return {f"GLOBAL({global_name(k)})": v for k, v in values.items()}


async def rounds_after(service: ListenerService, count: int) -> None:
    """Wait until ``count`` more push rounds have completed."""
    start = service.pbx.rounds
    await until(lambda: service.pbx.rounds >= start + count)


def test_the_2r_setvar_reply_is_the_bytes_asterisk_sends() -> None:
    """2r prints replies on one line without ActionID; rebuilt, they are byte for byte
    the Setvar reply 2g recorded on the wire."""
    rebuilt = with_action_id(recorded_2r("Setvar Variable: GLOBAL("), "ami-155")
    assert [rebuilt] == recorded_reply("2g-ami-actions", "Setvar")


def test_a_global_is_set_without_a_channel() -> None:
    assert setvar_global("dest_811", "18005550811") == {
        "Action": "Setvar",
        "Variable": "GLOBAL(IVR211_DEST_811)",
        "Value": "18005550811",
    }
    with pytest.raises(ValueError, match="line break"):
        setvar_global("override", "open\r\nAction: Originate")


def test_a_change_is_pushed_at_the_next_round_nothing_else_and_all_after_fullybooted(
    store: SettingsStore, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                expected = expected_globals(store)

                # after the login: every value, the version last
                await until(lambda: len(setvars(fake)) >= len(expected))
                first = setvars(fake)
                assert dict(first) == expected
                assert len(first) == len(expected)
                assert first[-1][0] == VERSION
                assert "GLOBAL(IVR211_HOURS_1)" in expected  # the fallback's hours too

                # nothing changed: the rounds that follow send nothing
                await rounds_after(service, 3)
                assert setvars(fake) == first

                # an admin changes a number and Monday's hours
                with store.change() as session:
                    set_destination_number(
                        session, "811", "capitale-nationale", "18005550811", "admin"
                    )
                    version = set_hours(session, "mon", DayHours(time(9), time(17)), "admin")
                # a round may have been under way; the one after it has the change
                await rounds_after(service, 2)
                assert setvars(fake)[len(first) :] == [
                    ("GLOBAL(IVR211_DEST_811)", "18005550811"),
                    ("GLOBAL(IVR211_HOURS_1)", "09:00-16:59"),
                    (VERSION, str(version)),
                ]
                await rounds_after(service, 2)
                assert len(setvars(fake)) == len(first) + 3

                # FullyBooted: everything again, the version last
                before = len(setvars(fake))
                await fake.push(fake.fully_booted)
                now_expected = expected_globals(store)
                await until(lambda: len(setvars(fake)) >= before + len(now_expected))
                again = setvars(fake)[before:]
                assert dict(again) == now_expected
                assert again[-1] == (VERSION, str(version))

                # Asterisk restarts (2h: Shutdown, EOF); the listener logs in again
                before = len(setvars(fake))
                await fake.shutdown(restart=True)
                await fake.wait_logins(2)
                await until(lambda: len(setvars(fake)) >= before + len(now_expected))
                assert dict(setvars(fake)[before:]) == now_expected

                assert fake.actions("DBPut") == []
                assert all(v.startswith("GLOBAL(IVR211_") for v, _ in setvars(fake))
            finally:
                service.stop()
                await task

    run(scenario())


def test_a_refused_setvar_stops_the_round_before_the_version(
    store: SettingsStore, tmp_path: Path
) -> None:
    """The dialplan trusts the globals up to IVR211_VERSION: a round that could not set
    every value must not set it. Asterisk's refusal is 2r's (Setvar DB(...))."""

    async def scenario() -> None:
        async with FakeAmi() as fake:
            fake.replies["Setvar"] = [recorded_2r("Setvar Variable: DB(")]
            service = service_for(fake, store, tmp_path)
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await rounds_after(service, 2)
                refused = setvars(fake)
                assert refused and all(var == refused[0][0] for var, _ in refused)
                assert VERSION not in dict(refused)

                fake.replies["Setvar"] = [recorded_2r("Setvar Variable: GLOBAL(")]
                expected = expected_globals(store)
                await until(lambda: VERSION in dict(setvars(fake)))
                sent = setvars(fake)
                done = sent.index(next(s for s in sent if s[0] == VERSION)) + 1
                retries, accepted = sent[: done - len(expected)], sent[done - len(expected) : done]
                assert all(var == refused[0][0] for var, _ in retries)
                assert dict(accepted) == expected
            finally:
                service.stop()
                await task

    run(scenario())


def test_unreadable_settings_send_nothing_and_are_reported_once(
    store: SettingsStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database is down and nothing was ever read: no global is touched (the
    dialplan keeps what it has), and the log says so once, not every two seconds."""

    def unreadable() -> LineSettings:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    async def scenario() -> None:
        async with FakeAmi() as fake:
            service = service_for(fake, store, tmp_path)
            service.settings_source = unreadable
            task = asyncio.create_task(service.run())
            try:
                await service.link.wait_connected(5)
                await rounds_after(service, 4)
                assert setvars(fake) == []
            finally:
                service.stop()
                await task

    with caplog.at_level(logging.INFO, logger="listener.pbxvalues"):
        run(scenario())
    said = [r for r in caplog.records if r.name == "listener.pbxvalues"]
    assert [r.levelno for r in said] == [logging.WARNING]
    assert "cannot read the settings" in said[0].getMessage()
