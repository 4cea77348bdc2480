"""The wire layer against the recorded sessions: every recorded reply line parses, and
the channel replays 1a, 1b, 1c, 1d and 5a command for command over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from agi_fakes import W1A, W1B, W1C, W1D, W5A, exchanges, recorded_header, split_args

from agi_scripts.channel import Channel
from agi_scripts.errors import (
    AgiCommandError,
    AgiProtocolError,
    ChannelHungUp,
    CommandTimeout,
    HeaderError,
)
from agi_scripts.protocol import (
    SocketTransport,
    StreamTransport,
    format_command,
    parse_header_line,
    parse_reply_line,
    quote,
    read_header,
)

ALL_WIRES = [
    W1A,
    W1B,
    W1C,
    W1D,
    "1e-script-keeps-socket.wire.txt",
    "1f-server-closes-mid-command.wire.txt",
    "1k-unknown-script.wire.txt",
    W5A,
]


@pytest.mark.parametrize(
    ("line", "result", "data", "extra"),
    [
        ("200 result=0", "0", None, {}),
        ("200 result=49 endpos=17760", "49", None, {"endpos": "17760"}),
        ("200 result=1 (en)", "1", "en", {}),
        ("200 result= (timeout)", "", "timeout", {}),
        ("200 result=42", "42", None, {}),
        ("200 result=-2", "-2", None, {}),
        ("200 result=-1 endpos=0", "-1", None, {"endpos": "0"}),
        ("200 result=1 (deux mots)", "1", "deux mots", {}),
        (
            "200 result=1 (5145550100/Local/dtmf@agi-driver-00000000;1/ivr)",
            "1",
            "5145550100/Local/dtmf@agi-driver-00000000;1/ivr",
            {},
        ),
    ],
)
def test_success_replies_parse(
    line: str, result: str, data: str | None, extra: dict[str, str]
) -> None:
    reply = parse_reply_line(line)
    assert (reply.code, reply.result, reply.data, dict(reply.extra)) == (200, result, data, extra)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("510 Invalid or unknown command", 510),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511),
    ],
)
def test_error_replies_parse(line: str, code: int) -> None:
    assert parse_reply_line(line).code == code


@pytest.mark.parametrize("line", ["", "hello", "200 ok", "200 result=1 (open", "2000 result=1"])
def test_unreadable_reply_lines_are_protocol_errors(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply_line(line)


@pytest.mark.parametrize("name", ALL_WIRES)
def test_every_recorded_single_line_reply_parses(name: str) -> None:
    for _, reply in exchanges(name):
        for raw in reply:
            text = raw.decode().rstrip("\n")
            if text == "HANGUP" or not text[:3].isdigit() or text.startswith("520"):
                continue
            assert parse_reply_line(text).code in (200, 510, 511), text


@pytest.mark.parametrize("name", [W1A, W1B, W1C, W1D, "1k-unknown-script.wire.txt"])
def test_recorded_headers_parse(name: str) -> None:
    lines = recorded_header(name)
    pairs = [parse_header_line(line) for line in lines[:-1]]
    assert pairs[0] == ("network", "yes")
    assert ("accountcode", "") in pairs


@pytest.mark.parametrize(
    "line", [b"GET / HTTP/1.1\r\n", b"agi_language en\n", b"language: en\n", b"\x00\x01\n"]
)
def test_garbage_header_lines_are_refused(line: bytes) -> None:
    with pytest.raises(HeaderError):
        parse_header_line(line)


@pytest.mark.parametrize(
    ("value", "wire_form"),
    [("42", "42"), ("deux mots", '"deux mots"'), ("", '""'), ('a "b"', '"a \\"b\\""')],
)
def test_quote_matches_recorded_forms_and_splits_back(value: str, wire_form: str) -> None:
    assert quote(value) == wire_form
    assert split_args(f"SET VARIABLE X {quote(value)}") == ["SET", "VARIABLE", "X", value]


def test_line_breaks_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="line break"):
        format_command("SET VARIABLE", "X", quote("a\nNOOP"))


# ---- replays over a real socket ----------------------------------------------------


@contextlib.asynccontextmanager
async def channel_to_asterisk(
    **kwargs: float,
) -> AsyncIterator[tuple[Channel, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A Channel on the server end of a 127.0.0.1 connection; the test holds the
    Asterisk end."""
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sr, sw = await accepted.get()
    channel = Channel(StreamTransport(sr, sw), name="test", **kwargs)
    try:
        yield channel, reader, writer
    finally:
        await channel.close()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()


async def replay(
    name: str,
    script: Callable[[Channel], Awaitable[None]],
    **kwargs: float,
) -> tuple[list[bytes], list[bytes]]:
    """Run ``script`` on a channel while the Asterisk end answers each command with the
    recorded reply (an empty recorded reply = Asterisk closed the socket). Returns
    (commands received, commands recorded)."""
    steps = exchanges(name)
    received: list[bytes] = []

    async def asterisk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _, reply in steps:
            line = await reader.readline()
            if not line:
                return
            received.append(line)
            if not reply:
                writer.close()
                return
            writer.writelines(reply)
            await writer.drain()

    async with channel_to_asterisk(**kwargs) as (channel, reader, writer):
        task = asyncio.create_task(asterisk(reader, writer))
        try:
            await script(channel)
        finally:
            await channel.close()
            await task
    recorded_commands = [cmd for cmd, _ in steps][: len(received)]
    return received, recorded_commands


def test_walkthrough_1a_replays_exactly() -> None:
    results: dict[str, object] = {}

    async def script(ch: Channel) -> None:
        await ch.answer()
        await ch.verbose("211 lab: IVR start", 1)
        results["lang"] = await ch.get_variable("CHANNEL(language)")
        results["key"] = await ch.stream_file("demo-congrats", "123")
        results["data"] = await ch.get_data("beep", 6000, 3)
        results["wait5"] = await ch.wait_for_digit(6000)
        results["wait_none"] = await ch.wait_for_digit(500)
        results["data_timeout"] = await ch.get_data("beep", 700, 2)
        await ch.set_variable("IVR_CHOICE", "42")
        await ch.set_variable("IVR_NOTE", "deux mots")
        results["choice"] = await ch.get_variable("IVR_CHOICE")
        results["note"] = await ch.get_variable("IVR_NOTE")
        results["nosuch"] = await ch.get_variable("NO_SUCH_VAR")
        full = await ch.command(b"GET FULL VARIABLE ${CALLERID(num)}/${CHANNEL(name)}/${EXTEN}\n")
        results["full"] = full.data
        results["put"] = await ch.database_put("lab211", "lastchoice", "42")
        results["db"] = await ch.database_get("lab211", "lastchoice")
        results["db_none"] = await ch.database_get("lab211", "nosuchkey")
        await ch.command(b"DATABASE DEL lab211 lastchoice\n")
        results["exec"] = await ch.exec_app("Playback", "beep")
        await ch.exec_app("Playback", "fr/hello-world")
        results["ok"] = await ch.get_variable("PLAYBACKSTATUS")
        await ch.exec_app("Playback", "no-such-sound-file")
        results["failed"] = await ch.get_variable("PLAYBACKSTATUS")
        with pytest.raises(AgiCommandError, match="no application"):
            await ch.exec_app("NoSuchApplication", "foo")
        await ch.command(b'SAY DIGITS 211 ""\n')
        results["status"] = (await ch.command(b"CHANNEL STATUS\n")).result
        await ch.verbose("211 lab: IVR done, choice 42", 1)
        await ch.command(b"NOOP\n")
        with pytest.raises(AgiCommandError) as unknown:
            await ch.command(b"FOO BAR\n")
        results["510"] = (unknown.value.code, unknown.value.text)
        with pytest.raises(AgiCommandError) as usage:
            await ch.command(b"STREAM FILE\n")
        results["520"] = (usage.value.code, usage.value.text.splitlines())
        await ch.set_variable("IVR_DONE", "1")
        results["hung_up"] = ch.hung_up

    received, expected = asyncio.run(replay(W1A, script))
    assert received == expected
    assert len(received) == len(exchanges(W1A))
    assert results["lang"] == "en"
    assert results["key"] == "1"
    assert results["data"] == ("42", False)
    assert (results["wait5"], results["wait_none"]) == ("5", None)
    assert results["data_timeout"] == ("", True)
    assert (results["choice"], results["note"], results["nosuch"]) == ("42", "deux mots", None)
    assert results["full"] == "5145550100/Local/dtmf@agi-driver-00000000;1/ivr"
    assert (results["put"], results["db"], results["db_none"]) == (True, "42", None)
    assert (results["exec"], results["ok"], results["failed"]) == (0, "SUCCESS", "FAILED")
    assert results["status"] == "6"
    assert results["510"] == (510, "510 Invalid or unknown command")
    code, usage_lines = results["520"]  # type: ignore[misc]
    assert code == 520
    assert usage_lines[0] == "520-Invalid command syntax.  Proper usage follows:"
    assert usage_lines[-1] == "520 End of proper usage."
    assert len(usage_lines) == 7
    assert results["hung_up"] is False


def _after_hangup_script(
    results: dict[str, object], sighup_line: bool
) -> Callable[[Channel], Awaitable[None]]:
    async def script(ch: Channel) -> None:
        await ch.answer()
        results["stream"] = await ch.stream_file("tt-monkeys")
        results["hung_up_after_minus_one"] = ch.hung_up
        if sighup_line:
            with pytest.raises(ChannelHungUp):
                await ch.get_variable("CHANNEL(state)")
        else:
            results["state"] = await ch.get_variable("CHANNEL(state)")
        await ch.verbose("after hangup", 1)
        results["exec"] = await ch.exec_app("Playback", "beep")
        with pytest.raises(ChannelHungUp):
            await ch.stream_file("beep")
        await ch.set_variable("AFTER_HANGUP", "yes")
        results["put"] = await ch.database_put("lab211", "afterhangup", "1")
        with pytest.raises(ChannelHungUp):
            await ch.command(b"CHANNEL STATUS\n")
        await ch.hangup()
        results["hung_up"] = ch.hung_up

    return script


def test_1b_hangup_line_is_read_before_the_next_reply_and_stays_in_step() -> None:
    results: dict[str, object] = {}
    received, expected = asyncio.run(replay(W1B, _after_hangup_script(results, True)))
    assert received == expected
    assert len(received) == len(exchanges(W1B))
    assert results["stream"] is None
    assert results["hung_up_after_minus_one"] is False
    assert (results["exec"], results["put"], results["hung_up"]) == (0, True, True)


def test_1c_without_hangup_line_the_511_confirms_the_hangup() -> None:
    results: dict[str, object] = {}
    received, expected = asyncio.run(replay(W1C, _after_hangup_script(results, False)))
    assert received == expected
    assert results["state"] == "Up"
    assert (results["exec"], results["put"], results["hung_up"]) == (0, True, True)


def test_1d_two_hangup_lines_then_eof_never_leak_broken_pipe() -> None:
    failures: list[BaseException] = []

    async def script(ch: Channel) -> None:
        await ch.answer()
        assert await ch.stream_file("tt-monkeys") is None
        for attempt in (
            lambda: ch.get_variable("CHANNEL(state)"),
            lambda: ch.verbose("after hangup", 1),
            lambda: ch.exec_app("Playback", "beep"),
            lambda: ch.stream_file("beep"),
            lambda: ch.set_variable("AFTER_HANGUP", "yes"),
            lambda: ch.database_put("lab211", "afterhangup", "1"),
        ):
            try:
                await attempt()
            except Exception as exc:
                failures.append(exc)
        await ch.hangup()

    received, expected = asyncio.run(replay(W1D, script))
    assert received[:3] == expected[:3]
    assert len(failures) == 6
    assert all(isinstance(exc, ChannelHungUp) for exc in failures), failures


def test_5a_missing_prompt_on_a_live_channel_is_not_a_hangup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results: dict[str, object] = {}

    async def script(ch: Channel) -> None:
        await ch.answer()
        results["plain"] = await ch.stream_file("no-such-prompt")
        results["escape"] = await ch.stream_file("no-such-prompt", "12")
        results["data"] = await ch.get_data("no-such-prompt", 1000, 1)
        results["exec"] = await ch.exec_app("Playback", "no-such-prompt")
        results["status"] = await ch.get_variable("PLAYBACKSTATUS")
        results["beep"] = await ch.stream_file("beep")
        await ch.set_variable("IVR_DONE", "1")
        results["hung_up"] = ch.hung_up

    with caplog.at_level(logging.WARNING, logger="agi_scripts.channel"):
        received, expected = asyncio.run(replay(W5A, script))
    assert received == expected
    assert results == {
        "plain": None,
        "escape": None,
        "data": ("", False),
        "exec": 0,
        "status": "FAILED",
        "beep": None,
        "hung_up": False,
    }
    assert sum("no-such-prompt is missing" in r.getMessage() for r in caplog.records) == 2


def test_silent_asterisk_gives_a_command_timeout_and_the_channel_refuses_more() -> None:
    errors: list[BaseException] = []

    async def scenario() -> list[bytes]:
        async with channel_to_asterisk(command_timeout_s=0.2) as (channel, reader, _):
            with pytest.raises(CommandTimeout) as first:
                await channel.command(b"NOOP\n")
            errors.append(first.value)
            with pytest.raises(AgiProtocolError) as second:
                await channel.command(b"NOOP\n")
            errors.append(second.value)
            return [await reader.readline()]

    assert asyncio.run(scenario()) == [b"NOOP\n"]
    assert "NOOP" in str(errors[0])


# ---- the FastAGI server's socket transport -------------------------------------------


async def socket_lines(sent: list[bytes], limit: int) -> list[bytes | str]:
    """What ``SocketTransport.read_line`` gives for ``sent`` (then EOF): each line, or
    the name of the error it raised."""
    connected: asyncio.Queue[SocketTransport] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SocketTransport(connected.put_nowait, limit=limit), "127.0.0.1", 0
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.writelines(sent)
        writer.write_eof()
        transport = await connected.get()
        got: list[bytes | str] = []
        while True:
            try:
                line = await asyncio.wait_for(transport.read_line(), 5)
            except AgiProtocolError as exc:
                got.append(type(exc).__name__)
                continue
            got.append(line)
            if not line:
                break
        writer.close()
        await transport.close()
    return got


def test_the_socket_transport_reads_lines_as_the_stream_transport_does() -> None:
    sent = [b"agi_network: yes\n", b"x" * 100 + b"\n", b"200 result=0\n", b"partial"]
    got = asyncio.run(socket_lines(sent, limit=64))
    assert got == [
        b"agi_network: yes\n",
        "AgiProtocolError",  # longer than the limit: refused, the next line still read
        b"200 result=0\n",
        b"partial",  # cut by EOF: no newline, as read_reply expects to see it
        b"",
    ]


async def socket_header(segments: list[bytes]) -> tuple[dict[str, str], bytes]:
    """The header ``read_header`` makes of ``segments`` sent one by one to a
    ``SocketTransport`` (a pause between them), and the next line it leaves unread."""
    connected: asyncio.Queue[SocketTransport] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SocketTransport(connected.put_nowait), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        transport = await connected.get()
        reading = asyncio.create_task(read_header(transport, max_bytes=16384, timeout_s=5))
        for segment in segments:
            writer.write(segment)
            await writer.drain()
            await asyncio.sleep(0.05)
        header = await reading
        after = await asyncio.wait_for(transport.read_line(), 5)
        writer.close()
        await transport.close()
    return dict(header.env), after


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda block: [block], id="one-segment"),
        pytest.param(lambda block: [block[:7], block[7:]], id="cut-in-the-first-line"),
        pytest.param(lambda block: [block[:-1], block[-1:]], id="cut-before-the-empty-line"),
        pytest.param(lambda block: [bytes([b]) for b in block[:40]] + [block[40:]], id="bytewise"),
    ],
)
def test_the_socket_header_is_the_same_however_it_arrives(
    cut: Callable[[bytes], list[bytes]],
) -> None:
    """The whole block taken at once (``take_block``) or line by line, the header is the
    same, and what follows the empty line stays for the next read."""
    lines = recorded_header(W1A)
    block = b"".join(lines)
    expected = dict(parse_header_line(line) for line in lines[:-1])
    env, after = asyncio.run(socket_header([*cut(block + b"200 result=0\n")]))
    assert env == expected
    assert after == b"200 result=0\n"


def test_a_crlf_header_on_the_socket_is_read_line_by_line() -> None:
    """``\\r\\n`` endings have no ``\\n\\n``: the block is not taken at once, the lines are
    still read and the empty ``\\r\\n`` line ends the header."""
    lines = [line.replace(b"\n", b"\r\n") for line in recorded_header(W1A)]
    env, after = asyncio.run(socket_header([b"".join(lines) + b"200 result=0\n"]))
    assert env["network"] == "yes"
    assert env["accountcode"] == ""
    assert after == b"200 result=0\n"
