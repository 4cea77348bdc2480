"""Connection slots cannot be starved, and a refused or cut call still reaches the
dialplan's fallback: the real FastAGI server over real TCP sockets on 127.0.0.1.

* each command waits for its reply only as long as it can legitimately take: a quick
  command a few seconds, a prompt its length plus a margin, WAIT FOR DIGIT the caller's
  own timeout plus a margin;
* one peer address holds at most ``max_connections_per_peer`` connections; another
  address is still served;
* a connection refused that way is closed at once. Asterisk then goes on with the
  dialplan: AGISTATUS=SUCCESS when the server closes after connecting (1i, 1f),
  FAILURE when it cannot send the header; either way IVR_FLOW_DONE is not 1 and
  asterisk_conf/extensions.conf sends the caller to ivr211-fallback (here run by
  tests/asterisk_conf/dialplan_sim.py), never to silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from agi_fakes import (
    OPEN_NOW,
    FakeAsterisk,
    header_for,
    line_settings,
    recorded_header,
    running_server,
)

from agi_scripts.channel import Channel, ReplyLimits
from agi_scripts.errors import CommandTimeout
from agi_scripts.protocol import StreamTransport
from agi_scripts.runner import longest_speech_s
from ivr.actions import PromptRef
from tests.asterisk_conf.dialplan_sim import Call, Dialplan

NAVIGATOR_KEYS = ("t", "1", "1")
OTHER_PEER = "127.0.0.2"  # the whole of 127/8 reaches the loopback on Linux
QUEUE_TO_NAVIGATORS = "navigateurs,tb(ivr211-navigator-leg^s^1),,,600"
FALLBACK_NOTICE = ["fr/211/fallback-notice", "en/211/fallback-notice"]


async def slow_call(
    port: int,
    delay_s: Callable[[str], float],
    *,
    keys: tuple[str, ...] = NAVIGATOR_KEYS,
    local_addr: tuple[str, int] | None = None,
) -> FakeAsterisk:
    """A fake Asterisk that waits ``delay_s(command)`` before each recorded reply and
    stops at the server's close (or after 10 s)."""
    fake = FakeAsterisk(port, keys=list(keys))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local_addr)
    try:
        async with asyncio.timeout(10):
            writer.writelines(fake.header)
            await writer.drain()
            while line := await reader.readline():
                command = line.decode().rstrip("\n")
                fake.commands.append(command)
                reply = fake.default_reply(command)
                await asyncio.sleep(delay_s(command))
                writer.writelines(reply)
                await writer.drain()
    except ConnectionResetError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return fake


# ---- each command's own limit -------------------------------------------------------


def test_a_peer_silent_after_the_header_is_cut_at_the_quick_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: the slot was held ``command_timeout_s`` (120 s) waiting for ANSWER's reply."""

    async def scenario() -> list[bytes]:
        async with running_server(quick_reply_s=0.2, command_timeout_s=120) as opts:
            reader, writer = await asyncio.open_connection("127.0.0.1", opts.port)
            try:
                writer.writelines(header_for())
                await writer.drain()
                received = []
                async with asyncio.timeout(10):
                    while line := await reader.readline():
                        received.append(line)
                return received
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    with caplog.at_level(logging.ERROR, logger="agi_scripts.server"):
        received = asyncio.run(scenario())
    assert received == [b"ANSWER\n"]
    assert any("no reply to 'ANSWER' within 0.2 s" in r.getMessage() for r in caplog.records)


def test_a_slow_reply_to_a_quick_command_ends_the_call_without_flow_done() -> None:
    """Before: any reply within 120 s was taken, so a peer answering slowly held the
    slot up to ``max_call_s``."""

    def delay(command: str) -> float:
        return 1.0 if command == 'SET VARIABLE IVR_FLOW_DONE ""' else 0.0

    async def scenario() -> FakeAsterisk:
        async with running_server(quick_reply_s=0.3) as opts:
            return await slow_call(opts.port, delay)

    fake = asyncio.run(scenario())
    assert fake.commands == ["ANSWER", 'SET VARIABLE IVR_FLOW_DONE ""']
    assert "IVR_FLOW_DONE" not in fake.variables or fake.variables["IVR_FLOW_DONE"] == ""


def test_prompts_and_waits_for_a_key_take_longer_than_a_quick_command() -> None:
    """Playing a prompt (its length) and waiting for the caller's key (their timeout)
    are not cut at the quick limit: a flat short limit would cut real calls."""

    def delay(command: str) -> float:
        return 0.5 if command.startswith(("STREAM FILE", "WAIT FOR DIGIT")) else 0.0

    async def scenario() -> FakeAsterisk:
        async with running_server(quick_reply_s=0.1, reply_margin_s=0.1) as opts:
            # silence at every menu: WAIT FOR DIGIT runs, the line's default follows
            return await slow_call(opts.port, delay, keys=())

    fake = asyncio.run(scenario())
    assert fake.count("WAIT FOR DIGIT") >= 1
    assert fake.count("STREAM FILE") >= 3
    assert fake.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"


@contextlib.asynccontextmanager
async def channel_and_peer(
    **limits: float,
) -> AsyncIterator[tuple[Channel, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A Channel on the server end of a 127.0.0.1 connection; the test is Asterisk."""
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sr, sw = await accepted.get()
    channel = Channel(StreamTransport(sr, sw), limits=ReplyLimits(**limits), name="test")
    try:
        yield channel, reader, writer
    finally:
        await channel.close()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()


def test_a_prompt_is_given_its_length_plus_the_margin_and_no_more() -> None:
    async def scenario() -> tuple[str | None, str]:
        async with channel_and_peer(quick_s=0.05, margin_s=0.1, unknown_s=60) as (ch, r, w):

            async def answer_after(delay_s: float) -> None:
                await r.readline()
                await asyncio.sleep(delay_s)
                w.write(b"200 result=0 endpos=3404\n")
                await w.drain()

            # 0.3 s prompt, answered after 0.2 s: within its length
            peer = asyncio.create_task(answer_after(0.2))
            played = await ch.stream_file("211/greeting", length_s=0.3)
            await peer
            # 0.1 s prompt, never answered: cut after 0.1 + 0.1 s, not 60 s
            never_answered = asyncio.create_task(
                ch.stream_file("211/emergency-numbers", length_s=0.1)
            )
            await r.readline()
            with pytest.raises(CommandTimeout) as cut:
                async with asyncio.timeout(10):
                    await never_answered
            return played, str(cut.value)

    played, cut = asyncio.run(scenario())
    assert played is None
    assert cut == "no reply to 'STREAM FILE 211/emergency-numbers \"\"' within 0.2 s"


def test_the_flow_gives_the_emergency_numbers_their_length() -> None:
    """The runner's bound for a prompt comes from its text: the emergency numbers
    (about 24 s when spoken) get more than that, a short prompt far less than 120 s."""
    settings = line_settings()
    emergency = longest_speech_s(PromptRef("emergency-numbers", "fr"), settings)
    notice = longest_speech_s(PromptRef("fallback-notice", "en"), settings)
    assert emergency is not None and 24 < emergency < 60
    assert notice is not None and notice < 24
    assert longest_speech_s(PromptRef("no-such-prompt", "fr"), settings) is None


# ---- connections per peer -------------------------------------------------------------


async def half_open(port: int, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections that send one header line and stop there."""
    writers = []
    for _ in range(count):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(recorded_header()[0])
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(0.1)  # let the server take them in
    return writers


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def what_the_server_sends(port: int) -> bytes:
    """A full header block, then everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.writelines(header_for())
        await writer.drain()
        async with asyncio.timeout(10):
            while chunk := await reader.read(4096):
                received += chunk
    except ConnectionResetError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return received


def test_one_peer_cannot_take_every_slot() -> None:
    """Before: one client's half-open connections took every slot up to
    ``max_connections`` and new calls were refused."""

    async def scenario() -> tuple[bytes, FakeAsterisk, FakeAsterisk]:
        async with running_server(max_connections=10, max_connections_per_peer=3) as opts:
            held = await half_open(opts.port, 3)
            try:
                refused = await what_the_server_sends(opts.port)
                other = await slow_call(opts.port, lambda _: 0.0, local_addr=(OTHER_PEER, 0))
            finally:
                await close_all(held)
            await asyncio.sleep(0.1)
            again = await slow_call(opts.port, lambda _: 0.0)
            return refused, other, again

    refused, other, again = asyncio.run(scenario())
    assert refused == b""
    assert other.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"
    assert other.variables["IVR_ROUTE"] == "queue"
    # the slots come back when the connections end
    assert again.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"


def test_a_caller_refused_for_the_peer_limit_reaches_the_dialplan_fallback() -> None:
    dialplan = Dialplan.load()

    async def scenario() -> Call:
        async with running_server(max_connections_per_peer=2) as opts:
            held = await half_open(opts.port, 2)
            try:
                return await asyncio.to_thread(
                    Call(
                        dialplan,
                        now=OPEN_NOW,
                        astdb={},
                        queue_outcomes=["CONNECTED"],
                        dial_outcomes=[],
                        voicemail_outcomes=[],
                        global_overrides={"FASTAGI": f"agi://127.0.0.1:{opts.port}"},
                        pushed_globals={},
                    ).run,
                    "from-trunk-211",
                    "211",
                )
            finally:
                await close_all(held)

    result = asyncio.run(scenario())
    assert len(result.agi_requests) == 1  # one AGI() tried, then the fallback
    assert result.agi_commands == []  # closed at once: no command of the flow was sent
    assert result.variables.get("IVR_FLOW_DONE", "") == ""
    assert result.heard()[:2] == FALLBACK_NOTICE
    assert result.apps("Queue") == [QUEUE_TO_NAVIGATORS]


# ---- several processes on one port ------------------------------------------------

WORKERS_MAIN = """
import logging, sys
sys.path.insert(0, sys.argv[2])
from agi_fakes import line_settings
from agi_scripts.server import ServerOptions, run_forever
logging.basicConfig(level=logging.INFO, format="%(process)d %(message)s")
run_forever(ServerOptions(port=int(sys.argv[1]), workers=2), line_settings)
"""


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(word) for word in path.read_text().split()] if path.exists() else []


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", WORKERS_MAIN, str(port), str(Path(__file__).parent)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:

        async def calls() -> list[FakeAsterisk]:
            async with asyncio.timeout(30):
                while log_path.read_text().count("FastAGI server listening") < 2:
                    await asyncio.sleep(0.05)
            return [await slow_call(port, lambda _: 0.0) for _ in range(8)]

        fakes = asyncio.run(calls())
        workers = children_of(server.pid)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert [fake.commands[-1] for fake in fakes] == ["SET VARIABLE IVR_FLOW_DONE 1"] * 8
    assert len(workers) == 1
    assert code == 0
    assert not Path(f"/proc/{workers[0]}").exists()
    log_text = log_path.read_text()
    assert {int(line.split()[0]) for line in log_text.splitlines() if "listening" in line} == {
        server.pid,
        workers[0],
    }
