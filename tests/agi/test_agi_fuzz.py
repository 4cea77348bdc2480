"""Fuzzing what the FastAGI server reads from the outside: the ``agi_*`` header and
Asterisk's replies (``agi_scripts.protocol``), then whole sessions over a real socket.

The inputs are the recorded lines of ``tests/fixtures/agi/`` (every line Asterisk sent
in the recordings), those lines cut or spliced, and arbitrary bytes. What must hold:

* a parser raises nothing but its own error (``HeaderError`` for the header,
  ``AgiProtocolError`` or ``ChannelHungUp`` for replies);
* what Asterisk writes is read back as it was meant (header and replies round-trip);
* a session fed any header and any replies ends: the server closes the connection
  within its limits, and the call flow never fails with an unexpected exception.

The number of inputs is the hypothesis profile's (``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import fields
from pathlib import Path

import pytest
from agi_fakes import FIXTURES, header_for, running_server, wire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agi_scripts.errors import AgiProtocolError, ChannelHungUp, HeaderError
from agi_scripts.protocol import (
    HANGUP_LINE,
    Reply,
    parse_header_block,
    parse_header_line,
    parse_reply_line,
    read_header,
    read_reply,
)
from agi_scripts.server import ServerOptions

RECORDINGS = sorted(p.name for p in FIXTURES.glob("*.txt") if p.name != "README.md")
#: Every line Asterisk sent in the recordings (header lines and replies).
ASTERISK_LINES = sorted({line for name in RECORDINGS for d, line in wire(name) if d == "A->S"})
HEADER_LINES = [line for line in ASTERISK_LINES if line.startswith(b"agi_")]
REPLY_LINES = [line for line in ASTERISK_LINES if not line.startswith(b"agi_")]
#: The limits of the sessions below: short, so that a silent peer costs little.
LIMITS = {
    "header_timeout_s": 0.2,
    "quick_reply_s": 0.1,
    "reply_margin_s": 0.1,
    "command_timeout_s": 0.2,
    "max_call_s": 0.5,
    "shutdown_grace_s": 0.0,
}
#: Far beyond every limit above: a session still open then has hung.
HUNG_AFTER_S = 10.0


def _spliced(lines: list[bytes]) -> st.SearchStrategy[bytes]:
    """A recorded line, cut, doubled, or glued to arbitrary bytes."""
    recorded = st.sampled_from(lines)
    return st.one_of(
        recorded,
        st.tuples(recorded, st.integers(0, 200)).map(lambda p: p[0][: p[1]]),
        st.tuples(recorded, st.binary(max_size=40), recorded).map(
            lambda p: p[0].rstrip(b"\n") + p[1] + p[2]
        ),
        st.binary(max_size=200),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass") + b"\n"),
    )


any_header_line = _spliced(HEADER_LINES)
any_reply_line = _spliced(REPLY_LINES)


class Lines:
    """A ``LineTransport`` over bytes already received: line by line, then EOF."""

    def __init__(self, data: bytes) -> None:
        *whole, rest = data.split(b"\n")  # as a stream reads: \n ends a line, not \r
        self._lines = [line + b"\n" for line in whole] + ([rest] if rest else [])

    async def read_line(self) -> bytes:
        return self._lines.pop(0) if self._lines else b""

    async def write(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


# ---- the header -------------------------------------------------------------------

header_keys = st.from_regex(r"[a-z0-9_]{1,20}", fullmatch=True)
# A value is the rest of its line: anything but a line break (decoding replaces what
# is not UTF-8, so the values here are text), and no \r at its end (CRLF is accepted).
header_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=60
).filter(lambda v: not v.endswith("\r"))


@given(st.binary(max_size=300) | any_header_line)
def test_a_header_line_is_read_or_refused_with_a_header_error(line: bytes) -> None:
    try:
        key, value = parse_header_line(line)
    except HeaderError:
        return
    assert re.fullmatch(r"[a-z0-9_]+", key) and "\n" not in value


@given(header_keys, header_values)
def test_a_header_line_round_trips(key: str, value: str) -> None:
    assert parse_header_line(f"agi_{key}: {value}\n".encode()) == (key, value)


@given(st.lists(any_header_line, max_size=40), st.booleans())
def test_a_header_block_is_read_or_refused_with_a_header_error(
    lines: list[bytes], ended: bool
) -> None:
    data = b"".join(lines) + (b"\n" if ended else b"")
    try:
        header = asyncio.run(read_header(Lines(data), max_bytes=16384, timeout_s=HUNG_AFTER_S))
    except HeaderError:
        return
    assert header.env, "an empty block is refused"


@given(st.dictionaries(header_keys, header_values, min_size=1, max_size=30))
def test_a_header_block_round_trips(env: dict[str, str]) -> None:
    data = b"".join(f"agi_{k}: {v}\n".encode() for k, v in env.items()) + b"\n"
    header = asyncio.run(read_header(Lines(data), max_bytes=1 << 20, timeout_s=HUNG_AFTER_S))
    assert dict(header.env) == env


def _line_by_line(block: bytes) -> dict[str, str] | str:
    """What reading ``block`` one line at a time gives: the header, or the error."""
    env: dict[str, str] = {}
    for line in (line + b"\n" for line in block.split(b"\n")[:-1]):
        if line in (b"\n", b"\r\n"):
            break
        try:
            key, value = parse_header_line(line)
        except HeaderError:
            return "HeaderError"
        env[key] = value
    return env


@given(st.lists(any_header_line | st.binary(max_size=40), max_size=30))
def test_a_whole_block_is_read_as_its_lines_are(lines: list[bytes]) -> None:
    """The socket's whole-block parse (``parse_header_block``, one decode) gives what the
    lines give one by one, or refuses what they refuse."""
    full = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines) + b"\n"
    # as take_block cuts it: up to and with the first empty line
    block = b"\n" if full.startswith(b"\n") else full[: full.index(b"\n\n") + 2]
    env: dict[str, str] = {}
    try:
        parse_header_block(block, env)
        got: dict[str, str] | str = env
    except HeaderError:
        got = "HeaderError"
    assert got == _line_by_line(block)


# ---- replies ----------------------------------------------------------------------


@given(st.text(max_size=300) | any_reply_line.map(lambda b: b.decode("utf-8", "replace")))
def test_a_reply_line_is_read_or_refused_with_a_protocol_error(line: str) -> None:
    try:
        reply = parse_reply_line(line.rstrip("\n"))
    except AgiProtocolError:
        return
    assert 100 <= reply.code <= 999 and reply.lines == (line.rstrip("\n"),)


results = st.from_regex(r"\S{0,12}", fullmatch=True)
# What stands in parentheses: one line, without ")" (Asterisk's are "timeout", "en"...).
datas = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n)"), max_size=30
)
# Values without ")": after a data part, "(x) k=a)" is "x) k=a" whatever reads it.
extras = st.dictionaries(
    st.from_regex(r"[A-Za-z_]{1,10}", fullmatch=True),
    st.from_regex(r"[^\s)]{0,12}", fullmatch=True),
    max_size=3,
)


@given(results, datas, extras)
def test_a_success_reply_round_trips(result: str, data: str | None, extra: dict[str, str]) -> None:
    line = f"200 result={result}"
    line += f" ({data})" if data is not None else ""
    line += "".join(f" {k}={v}" for k, v in extra.items())
    reply = parse_reply_line(line)
    assert (reply.code, reply.result, reply.data, dict(reply.extra)) == (200, result, data, extra)


#: How replies were read before: one regular expression, right but for its backtracking
#: (seconds on one 64 KiB line of ``)``; ``bench/agi_reply_parse.py``). The reference.
REFERENCE = re.compile(
    r"200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extra>(?: [A-Za-z_]+=\S*)*)"
)
# Lines of the success form, made of the characters that decide how one is split.
success_like = st.text(st.sampled_from(" ()=ab_1\t\n\x85é"), max_size=40).map(
    lambda t: "200 result=" + t
)


@given(success_like | st.text(max_size=60))
def test_a_reply_line_is_split_as_the_reference_expression_splits_it(line: str) -> None:
    match = REFERENCE.fullmatch(line)
    try:
        reply = parse_reply_line(line)
    except AgiProtocolError:
        assert match is None
        return
    if match is None:
        assert reply.code != 200
        return
    extra = dict(pair.split("=", 1) for pair in match.group("extra").split(" ") if pair)
    assert (reply.code, reply.result, reply.data, dict(reply.extra)) == (
        200,
        match.group("result"),
        match.group("data"),
        extra,
    )


def test_a_reply_of_nested_parentheses_keeps_them_in_its_data() -> None:
    reply = parse_reply_line("200 result=1 (Jean (bureau)) k=a)b")
    assert (reply.data, dict(reply.extra)) == ("Jean (bureau)", {"k": "a)b"})


@given(st.lists(any_reply_line, max_size=30))
def test_a_reply_stream_is_read_or_refused_with_its_errors(lines: list[bytes]) -> None:
    async def read_all() -> list[Reply]:
        transport = Lines(b"".join(lines))
        replies: list[Reply] = []
        with contextlib.suppress(AgiProtocolError, ChannelHungUp):
            while True:  # ends: every read consumes a line, EOF raises ChannelHungUp
                replies.append(await read_reply(transport))
        return replies

    replies = asyncio.run(read_all())
    assert len(replies) <= len(b"".join(lines).splitlines())


def _recorded_replies() -> list[bytes]:
    """Each recorded reply as the bytes Asterisk sent (a 520 block whole), HANGUP
    lines left out: they are interleaved below."""
    out: list[bytes] = []
    for name in RECORDINGS:
        block: list[bytes] = []
        for direction, line in wire(name):
            if direction != "A->S" or line.startswith(b"agi_") or line == b"\n":
                continue
            if line == HANGUP_LINE.encode() + b"\n":
                continue
            if not block and not re.match(rb"[1-9]\d\d[ -]", line):
                continue  # not a reply (a line of a recording's other exchanges)
            block.append(line)
            if line[3:4] == b"-" and not line.startswith(block[0][:3] + b" "):
                continue  # inside a 520- block: up to its "520 " line
            if len(block) > 1 and not line.startswith(block[0][:3] + b" "):
                continue
            out.append(b"".join(block))
            block = []
    return sorted(set(out))


REPLIES = _recorded_replies()


@given(st.lists(st.tuples(st.sampled_from(REPLIES), st.integers(0, 2)), min_size=1, max_size=20))
def test_recorded_replies_with_hangups_between_are_read_in_step(
    stream: list[tuple[bytes, int]],
) -> None:
    hangup = HANGUP_LINE.encode() + b"\n"
    data = b"".join(hangup * n + reply for reply, n in stream)

    async def read_all() -> list[Reply]:
        transport = Lines(data)
        return [await read_reply(transport) for _ in stream]

    replies = asyncio.run(read_all())
    assert [(r.text + "\n").encode() for r in replies] == [reply for reply, _ in stream]
    assert [r.hangups_before for r in replies] == [n for _, n in stream]


# ---- whole sessions over a real socket ---------------------------------------------


class Unexpected(logging.Handler):
    """Keeps the records logged with a traceback: an exception nobody expected."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


def _limits() -> dict[str, float]:
    known = {f.name for f in fields(ServerOptions)}
    return {k: v for k, v in LIMITS.items() if k in known}


async def _session(data: bytes, half_close: bool) -> bytes:
    """Connect to the real server, send ``data`` (optionally ending our side), read
    everything the server sends until it closes; a session open after HUNG_AFTER_S is
    a hang (TimeoutError)."""
    async with running_server(**_limits()) as opts:
        reader, writer = await asyncio.open_connection(opts.host, opts.port)
        try:
            writer.write(data)
            if half_close:
                writer.write_eof()
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            received = b""
            async with asyncio.timeout(HUNG_AFTER_S):
                while chunk := await _read(reader):
                    received += chunk
            return received
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read(65536)
    except ConnectionError:
        return b""


routes = st.sampled_from(["incoming", "queue-exit", "unknown-route", ""])
route_args = st.lists(st.sampled_from(["", "fr", "en", "queue-exit", "x" * 40]), max_size=3)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.tuples(routes, route_args).map(lambda p: b"".join(header_for(p[0], args=p[1]))),
        st.lists(any_header_line, max_size=30).map(b"".join),
    ),
    st.lists(st.sampled_from(REPLIES) | any_reply_line, max_size=60).map(b"".join),
    st.sampled_from([True, True, True, False]),
)
def test_a_session_fed_anything_ends_without_an_unexpected_error(
    header: bytes, replies: bytes, half_close: bool
) -> None:
    unexpected = Unexpected()
    root = logging.getLogger()
    root.addHandler(unexpected)
    try:
        asyncio.run(_session(header + replies, half_close))
    finally:
        root.removeHandler(unexpected)
    assert [r.getMessage() for r in unexpected.records] == []


def test_recordings_are_where_the_fuzzing_draws_from() -> None:
    assert len(HEADER_LINES) >= 20 and len(REPLIES) >= 10
    assert b"HANGUP\n" in REPLY_LINES
    assert any(r.startswith(b"520-") for r in REPLIES)
    assert Path(FIXTURES).is_dir()
    with pytest.raises(HeaderError):
        parse_header_line(b"not a header\n")
