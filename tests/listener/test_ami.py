"""The AMI link against the fake Asterisk (real TCP on 127.0.0.1, recorded bytes)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from listener.ami import AmiLink, Event, LinkDown, LinkOptions, LinkState
from listener.transcripts import messages
from tests.listener.fake_ami import FakeAmi, blocks, raw

TIMEOUT = 10.0


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def options(fake: FakeAmi, **kw: Any) -> LinkOptions:
    base: dict[str, Any] = {
        "port": fake.port,
        "secret": fake.secret,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.4,
        "action_timeout_s": 2.0,
    }
    base.update(kw)
    return LinkOptions(**base)


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout_s)


class Running:
    """An AmiLink running against ``fake``, collecting every event and state."""

    def __init__(self, fake: FakeAmi, **kw: Any) -> None:
        self.states: list[LinkState] = []
        self.events: list[Event] = []
        self.link = AmiLink(options(fake, **kw), on_state=self.states.append, rng=random.Random(7))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.link.run())
        self.link.subscribe(self.events.append)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.link.stop()
        assert self.task is not None
        await self.task

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.get("Event") == name]


def recorded_events(name: str) -> list[dict[str, str]]:
    """The events of a recording after the first read (banner, login reply, FullyBooted)."""
    chunks = [c for c in raw(name) if c.direction == "RECV"][1:]
    return [m for _, m in messages(chunks) if "Event" in m]


def newchannel_with_name(name: str) -> bytes:
    """2a1's first Newchannel with another CallerIDName (bytes otherwise as recorded)."""
    stream = b"".join(c.data for c in raw("2a1-attended-transfer-ami") if c.direction == "RECV")
    block = next(b for b in blocks(stream) if b.startswith(b"Event: Newchannel\r\n"))
    return block.replace(b"CallerIDName: <unknown>", f"CallerIDName: {name}".encode())


def test_callbacks_that_raise_do_not_stop_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    expected = recorded_events("2a1-attended-transfer-ami")
    async_calls: list[str] = []

    def plain(event: Event) -> None:
        raise RuntimeError("plain callback bug")

    async def later(event: Event) -> None:
        async_calls.append(event["Event"])
        raise RuntimeError("async callback bug")

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            r.link.subscribe(plain)
            r.link.subscribe(later)
            await r.link.wait_connected(5)
            await fake.replay(raw("2a1-attended-transfer-ami"))
            await eventually(lambda: len(r.events) >= len(expected) + 1)
            await eventually(lambda: len(async_calls) >= len(expected) + 1)
            assert r.link.connected
            assert fake.connections == 1
            got = [e for e in r.events if e.get("Event") != "FullyBooted"]
            assert [e["Event"] for e in got[-len(expected) :]] == [e["Event"] for e in expected]

    caplog.set_level(logging.ERROR, logger="listener.ami")
    run(scenario())
    assert "plain callback bug" in caplog.text
    assert "async callback bug" in caplog.text


@pytest.mark.parametrize("cut", [1, 2])
def test_accented_name_split_across_reads_arrives_intact(cut: int) -> None:
    name = "Amélie Lévesque"
    data = newchannel_with_name(name)
    split = data.index("é".encode()) + cut  # inside the two bytes of é (cut=1), or after

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            await r.link.wait_connected(5)
            await fake.push(data[:split])
            await asyncio.sleep(0.05)
            await fake.push(data[split:])
            await eventually(lambda: bool(r.named("Newchannel")))
            assert r.named("Newchannel")[0]["CallerIDName"] == name

    run(scenario())


def test_non_utf8_bytes_are_replaced_and_the_stream_goes_on() -> None:
    bad = newchannel_with_name("Jean Tremblay").replace(b"Jean", b"J\xff\xfeean")
    good = newchannel_with_name("Luc Roy")

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            await r.link.wait_connected(5)
            await fake.push(bad + good)
            await eventually(lambda: len(r.named("Newchannel")) == 2)
            first, second = r.named("Newchannel")
            assert first["CallerIDName"] == "J\ufffd\ufffdean Tremblay"
            assert second["CallerIDName"] == "Luc Roy"

    run(scenario())


def test_oversized_message_is_dropped_with_bounded_memory(caplog: pytest.LogCaptureFixture) -> None:
    after = newchannel_with_name("Luc Roy")
    limit = 1024 * 1024

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake, max_message_bytes=limit) as r:
            await r.link.wait_connected(5)
            protocol = r.link._protocol
            assert protocol is not None
            largest = 0
            for _ in range(80):  # 5 MiB of garbage, no blank line
                await fake.push(b"Garbage: " + b"x" * (64 * 1024 - 11) + b"\r\n")
                await asyncio.sleep(0)
                largest = max(largest, len(protocol._pending))
            await fake.push(b"\r\n" + after)
            await eventually(lambda: bool(r.named("Newchannel")))
            assert r.named("Newchannel")[0]["CallerIDName"] == "Luc Roy"
            assert largest <= limit
            assert r.link.connected

    caplog.set_level(logging.ERROR, logger="listener.ami")
    run(scenario())
    assert "dropped a message" in caplog.text


def test_truncated_message_then_eof_is_dropped_and_the_link_reconnects() -> None:
    data = newchannel_with_name("Luc Roy")

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            await r.link.wait_connected(5)
            await fake.push(data[: len(data) // 2])
            await fake.drop()
            await fake.wait_logins(2)
            await eventually(lambda: r.link.connected)
            await fake.push(data)
            await eventually(lambda: bool(r.named("Newchannel")))
            assert len(r.named("Newchannel")) == 1
            assert any(
                s.state == "disconnected" and "closed by Asterisk" in s.detail for s in r.states
            )

    run(scenario())


def _delays(states: list[LinkState]) -> list[float]:
    found = (re.search(r"retry in ([\d.]+) s", s.detail) for s in states)
    return [float(m.group(1)) for m in found if m]


def test_reconnect_with_backoff_after_shutdown_then_eof() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake, backoff_jitter=0.0) as r:
            await r.link.wait_connected(5)
            await fake.stop_listening()
            await fake.shutdown(restart=True)  # 2h: Shutdown (Restart: True), then EOF
            await eventually(lambda: len(_delays(r.states)) >= 4)
            assert not r.link.connected
            await fake.start()
            await fake.wait_logins(2)
            await eventually(lambda: r.link.connected)
            details = [s.detail for s in r.states if s.state == "disconnected"]
            assert details[0].startswith("Asterisk shut down (Cleanly, Restart: True)")
            assert any("cannot connect" in d for d in details[1:])
            delays = _delays(r.states)
            assert delays[:4] == [0.05, 0.1, 0.2, 0.4]

    run(scenario())


def test_wrong_secret_is_reported_and_retried() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake, secret="wrong") as r:
            await eventually(lambda: fake.connections >= 2)
            refused = [s for s in r.states if s.state == "disconnected"]
            assert refused[0].detail.startswith("login refused: Authentication failed")
            assert not r.link.connected

    run(scenario())


def test_actions_are_refused_while_down_and_never_resent() -> None:
    atxfer = {"Action": "Atxfer", "Channel": "PJSIP/nav-alice-00000001", "Exten": "911"}

    async def attempt(send: Awaitable[Event]) -> BaseException | None:
        try:
            await send
        except LinkDown as exc:
            return exc
        return None

    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            await r.link.wait_connected(5)
            fake.replies.pop("Atxfer")  # no reply: the action is in flight when the link drops
            in_flight = asyncio.create_task(attempt(r.link.send(atxfer)))
            await fake.wait_action("Atxfer")
            await fake.stop_listening()
            await fake.shutdown()
            assert isinstance(await in_flight, LinkDown)
            while_down = await attempt(r.link.send({**atxfer, "Exten": "811"}))
            assert isinstance(while_down, LinkDown)
            await fake.start()
            await fake.wait_logins(2)
            await eventually(lambda: r.link.connected)
            pong = await r.link.send({"Action": "Ping"})
            assert pong["Response"] == "Success"
            assert [a["Exten"] for a in fake.actions("Atxfer")] == ["911"]
            assert [a["Action"] for a in fake.received][-2:] == ["Login", "Ping"]

    run(scenario())


def test_originate_is_always_async() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Running(fake) as r:
            await r.link.wait_connected(5)
            reply = await r.link.send(
                {
                    "Action": "Originate",
                    "Channel": "Local/988@navigator-transfers",
                    "Async": "false",
                }
            )
            assert reply["Message"] == "Originate successfully queued"
            assert fake.actions("Originate")[0]["Async"] == "true"
            assert r.link.connected

    run(scenario())
