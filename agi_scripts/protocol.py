"""The AGI wire format, as a real Asterisk 22.10.1 speaks it (tests/fixtures/agi/).

A session opens with the ``agi_*`` header block, one ``key: value`` line each, ended
by an empty line (transcript 1a)::

    agi_network: yes
    agi_network_script: ivr
    agi_request: agi://127.0.0.1:4573/ivr
    agi_channel: Local/dtmf@agi-driver-00000000;1
    ...
    agi_accountcode:
    agi_arg_1: first arg
    <empty line>

then the script sends one command line and reads one reply, in turn. Replies::

    200 result=0
    200 result=49 endpos=17760          STREAM FILE interrupted by '1' (ASCII 49)
    200 result=1 (en)                   GET VARIABLE CHANNEL(language)
    200 result= (timeout)               GET DATA with no key
    200 result=-2                       EXEC of an unknown application
    510 Invalid or unknown command
    511 Command Not Permitted on a dead channel or intercept routine
    520-Invalid command syntax.  Proper usage follows:
    ...usage text, several lines...
    520 End of proper usage.

and, at any moment, the asynchronous line ``HANGUP`` when the caller hangs up (default
AGISIGHUP): it arrives *before* the reply to the command in flight (1b) and may come
twice (1d). This module reads all of that without ever getting out of step; the
``Channel`` decides what each reply means.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

from agi_scripts.errors import AgiProtocolError, ChannelHungUp, HeaderError, HeaderTimeout

HANGUP_LINE: Final = "HANGUP"
MAX_USAGE_LINES: Final = 200
LINE_LIMIT: Final = 64 * 1024

_HEADER_LINE = re.compile(r"(agi_[a-z0-9_]+): ?(.*)")
_SUCCESS_PREFIX = "200 result="
_RESULT = re.compile(r"\S*")
_EXTRA_PAIR = re.compile(r"[A-Za-z_]+=\S*")
_STATUS = re.compile(r"(?P<code>[1-9]\d\d)(?P<sep>[ -])(?P<text>.*)")


class LineTransport(Protocol):
    """A byte stream to Asterisk: a FastAGI socket or classic AGI's stdin/stdout.

    ``read_line`` returns one line with its ``\\n``, or ``b""`` once the peer is gone;
    ``write`` raises ``ChannelHungUp`` instead of ``BrokenPipeError``.
    """

    async def read_line(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


async def read_stream_line(reader: asyncio.StreamReader) -> bytes:
    """One line from ``reader`` (a socket or a pipe); ``b""`` at its end or when the peer
    is gone; a line longer than the stream's limit is a protocol error."""
    try:
        return await reader.readline()
    except ValueError as exc:
        raise AgiProtocolError(f"line longer than the stream limit: {exc}") from exc
    except OSError:
        return b""


class StreamTransport:
    """``LineTransport`` over an asyncio stream pair (the FastAGI socket)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read_line(self) -> bytes:
        return await read_stream_line(self._reader)

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ChannelHungUp("the connection is closed")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise ChannelHungUp(f"Asterisk closed the connection ({exc!r})") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class SocketTransport(asyncio.Protocol):
    """``LineTransport`` as the asyncio protocol of one FastAGI socket.

    The FastAGI server's transport: lines are cut from one buffer as they arrive, and a
    line already received is returned without waiting (the header block comes in one
    segment), without the StreamReader, StreamWriter and drain of ``StreamTransport``
    on every command. Same rules as ``StreamTransport``: ``b""`` at the end of the
    stream or when the connection is gone, a line longer than ``limit`` is a protocol
    error, a write on a closed connection raises ``ChannelHungUp``. ``on_connect`` is
    called once the connection is made (the server starts the call's task there).

    Reading within a limit without a timer per command: when ``watched`` (the server
    calls ``expire`` for every connection a few times a second), a reader sets
    ``read_deadline`` and a pending read past it fails with ``TimeoutError``.
    """

    def __init__(
        self,
        on_connect: Callable[[SocketTransport], object] | None = None,
        *,
        limit: int = LINE_LIMIT,
    ) -> None:
        self._on_connect = on_connect
        self._limit = limit
        self._buffer = bytearray()
        self._eof = False
        self._lost = False
        self._reading_paused = False
        self._writing_paused = False
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        #: What the server keeps of this connection (its task), for as long as it lives.
        self.task: asyncio.Task[None] | None = None
        #: Set by whoever calls ``expire`` regularly: readers may then use the deadline.
        self.watched = False
        #: Loop time past which a pending read fails (``expire``); inf: no limit.
        self.read_deadline = math.inf

    def get_extra_info(self, name: str) -> object:
        return None if self._transport is None else self._transport.get_extra_info(name)

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError(f"a stream transport is needed, not {transport!r}")
        self._transport = transport
        self._closed = asyncio.get_running_loop().create_future()
        if self._on_connect is not None:
            self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake()
        if len(self._buffer) > 2 * self._limit and self._transport is not None:
            with contextlib.suppress(RuntimeError):
                self._transport.pause_reading()
                self._reading_paused = True

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the socket open for writing: SET VARIABLE works on a dead channel

    def connection_lost(self, exc: Exception | None) -> None:
        self.task = None
        self._eof = True
        self._lost = True
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def expire(self, now: float) -> None:
        """Fail the pending read with ``TimeoutError`` if ``read_deadline`` has passed."""
        waiter = self._waiter
        if waiter is not None and now >= self.read_deadline and not waiter.done():
            waiter.set_exception(TimeoutError())

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- LineTransport -------------------------------------------------------------

    async def read_line(self) -> bytes:
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n")
            if end >= 0:
                line = bytes(buffer[: end + 1])
                del buffer[: end + 1]
                if self._reading_paused and len(buffer) <= self._limit:
                    self._resume_reading()
                if end > self._limit:
                    raise AgiProtocolError(f"line longer than the stream limit ({self._limit})")
                return line
            if len(buffer) > self._limit:
                buffer.clear()
                self._resume_reading()
                raise AgiProtocolError(f"line longer than the stream limit ({self._limit})")
            if self._eof:
                line = bytes(buffer)
                buffer.clear()
                return line
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def take_block(self) -> bytes | None:
        """The header block (up to and with its empty line) when it is all in the buffer
        already, at once and without waiting; None otherwise (the caller then reads it
        line by line). Asterisk sends the block in one segment: a thousand calls opening
        together then cost one cut each instead of one wait per line."""
        buffer = self._buffer
        end = 0 if buffer[:1] == b"\n" else buffer.find(b"\n\n") + 1
        if end <= 0 or end >= self._limit:
            return None
        block = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        if self._reading_paused and len(buffer) <= self._limit:
            self._resume_reading()
        return block

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            with contextlib.suppress(RuntimeError):
                self._transport.resume_reading()

    async def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ChannelHungUp("the connection is closed")
        transport.write(data)
        if self._writing_paused and not self._lost:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await self._drained
            finally:
                self._drained = None
        if self._lost or transport.is_closing():
            raise ChannelHungUp("Asterisk closed the connection")

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._closed is not None:
            await self._closed


# ---- header -------------------------------------------------------------------


@dataclass(frozen=True)
class AgiHeader:
    """The ``agi_*`` variables of one session, keys without the ``agi_`` prefix."""

    env: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.env.get(key, default)

    @property
    def script(self) -> str:
        """The FastAGI route: ``agi_network_script: ivr`` for ``agi://host:4573/ivr``."""
        return self.get("network_script")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def args(self) -> tuple[str, ...]:
        """``agi_arg_1`` .. ``agi_arg_N`` in order: the AGI() arguments after the URL."""
        numbered = sorted(
            (int(key[4:]), value)
            for key, value in self.env.items()
            if key.startswith("arg_") and key[4:].isdecimal()
        )
        return tuple(value for _, value in numbered)


async def _read_header_lines(transport: LineTransport, env: dict[str, str], max_bytes: int) -> None:
    """The header's lines into ``env``: the whole block at once when the socket already
    holds it (``SocketTransport.take_block``), else line by line."""
    total = 0
    while True:
        block = transport.take_block() if isinstance(transport, SocketTransport) else None
        if block is not None:
            if total + len(block) > max_bytes:
                raise HeaderError(f"header block longer than {max_bytes} bytes")
            parse_header_block(block, env)
            return
        line = await transport.read_line()
        if not line.endswith(b"\n"):
            raise HeaderError(f"connection closed after {len(env)} header line(s)")
        total += len(line)
        if total > max_bytes:
            raise HeaderError(f"header block longer than {max_bytes} bytes")
        if line in (b"\n", b"\r\n"):
            return
        key, value = parse_header_line(line)
        env[key] = value


def parse_header_block(block: bytes, env: dict[str, str]) -> None:
    """Every line of a whole header block (``take_block``: up to and with its empty
    line) into ``env``, decoded once: what ``parse_header_line`` gives line by line
    (lines end on ``\n`` only, so a ``\r`` inside a value stays in it)."""
    for text in block.decode("utf-8", errors="replace").split("\n")[:-2]:
        text = text.rstrip("\r")
        match = _HEADER_LINE.fullmatch(text)
        if match is None:
            raise HeaderError(f"not an agi_* header line: {text[:80]!r}")
        env[match.group(1).removeprefix("agi_")] = match.group(2)


def parse_header_line(line: bytes) -> tuple[str, str]:
    """``b'agi_language: en\\n'`` -> ``("language", "en")``; anything else is garbage.

    ``agi_accountcode: `` (empty value, trailing space) is a real line (1a).
    """
    text = line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")
    match = _HEADER_LINE.fullmatch(text)
    if match is None:
        raise HeaderError(f"not an agi_* header line: {text[:80]!r}")
    return match.group(1).removeprefix("agi_"), match.group(2)


async def read_header(transport: LineTransport, *, max_bytes: int, timeout_s: float) -> AgiHeader:
    """Read the header block up to its empty line, within ``max_bytes`` and ``timeout_s``.

    A peer that never ends the block (1j shows Asterisk itself never gives up) must not
    hold a connection forever, hence both bounds. On the server's watched sockets the
    time limit is the connection's ``read_deadline`` (no timer per call).
    """
    env: dict[str, str] = {}
    try:
        if isinstance(transport, SocketTransport) and transport.watched:
            transport.read_deadline = asyncio.get_running_loop().time() + timeout_s
            try:
                await _read_header_lines(transport, env, max_bytes)
            finally:
                transport.read_deadline = math.inf
        else:
            async with asyncio.timeout(timeout_s):
                await _read_header_lines(transport, env, max_bytes)
    except TimeoutError as exc:
        raise HeaderTimeout(
            f"header block not finished after {timeout_s:g} s ({len(env)} line(s))"
        ) from exc
    except AgiProtocolError as exc:
        if isinstance(exc, HeaderError):
            raise
        raise HeaderError(str(exc)) from exc
    if not env:
        raise HeaderError("empty header block")
    return AgiHeader(MappingProxyType(env))


# ---- replies ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One reply of Asterisk to one command.

    ``result`` is the raw text after ``result=`` (``""`` in ``200 result= (timeout)``),
    ``data`` what stands in parentheses, ``extra`` the ``key=value`` pairs
    (``endpos``), ``lines`` every line as received (several for ``520``).
    ``hangups_before`` counts the ``HANGUP`` lines read just before this reply.
    """

    code: int
    result: str = ""
    data: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    hangups_before: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise AgiProtocolError(f"non-numeric result in {self.text!r}") from None


@functools.lru_cache(maxsize=1024)
def parse_reply_line(line: str) -> Reply:
    """Parse one single-line reply (not ``HANGUP``, not a ``520-`` block).

    Replies repeat (``200 result=1`` answers every ``SET VARIABLE``): the last 1,024
    distinct lines are kept parsed. A ``Reply`` is immutable (its ``extra`` read-only),
    so one object serves every command that got that line.

    >>> parse_reply_line("200 result=49 endpos=17760").extra["endpos"]
    '17760'
    >>> parse_reply_line("200 result=1 (deux mots)").data
    'deux mots'
    >>> parse_reply_line("200 result= (timeout)").result
    ''
    """
    success = _split_success(line)
    if success is not None:
        result, data, extra = success
        return Reply(
            code=200, result=result, data=data, extra=MappingProxyType(extra), lines=(line,)
        )
    status = _STATUS.fullmatch(line)
    if status is None or status.group("code") == "200":
        raise AgiProtocolError(f"unreadable reply line {line[:120]!r}")
    return Reply(code=int(status.group("code")), lines=(line,))


def _split_success(line: str) -> tuple[str, str | None, dict[str, str]] | None:
    """``200 result=<result>[ (<data>)][ key=value...]`` -> (result, data, extra), else None.

    The data runs to the *last* ``)`` that only ``key=value`` pairs follow (``(Jean
    (bureau))`` is one value). Read in one pass from the right: the regular expression
    this replaces backtracked over every ``)`` and took seconds on one 64 KiB line, the
    whole server's loop with it.
    """
    if not line.startswith(_SUCCESS_PREFIX) or "\n" in line:
        return None
    matched = _RESULT.match(line, len(_SUCCESS_PREFIX))
    result = matched.group() if matched else ""
    rest = line[len(_SUCCESS_PREFIX) + len(result) :]
    data: str | None = None
    if rest.startswith(" ("):
        close = _data_end(rest)
        if close is None:
            return None
        data, rest = rest[2:close], rest[close + 1 :]
    extra = _extra_pairs(rest)
    return None if extra is None else (result, data, extra)


def _data_end(rest: str) -> int | None:
    """Index in ``rest`` (`` (data) k=v...``) of the ``)`` that ends the data."""
    end = len(rest)
    while True:
        if end >= 3 and rest[end - 1] == ")":
            return end - 1
        space = rest.rfind(" ", 0, end)
        if space < 0 or not _EXTRA_PAIR.fullmatch(rest, space + 1, end):
            return None
        end = space


def _extra_pairs(rest: str) -> dict[str, str] | None:
    """`` endpos=17760 k=v`` -> {"endpos": "17760", "k": "v"}; None if not such pairs."""
    if not rest:
        return {}
    if not rest.startswith(" "):
        return None
    pairs = rest[1:].split(" ")
    if not all(_EXTRA_PAIR.fullmatch(pair) for pair in pairs):
        return None
    return dict(pair.split("=", 1) for pair in pairs)


def _decode(line: bytes) -> str:
    return line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")


async def read_reply(transport: LineTransport) -> Reply:
    """Read the next reply, skipping (and counting) ``HANGUP`` lines before it.

    1d shows ``200 result=-1 endpos=16160``, ``HANGUP``, ``HANGUP`` in one chunk, then
    EOF; 1b shows ``HANGUP`` arriving before ``200 result=1 (Up)``, the reply to the
    next command, which must still be read as that command's reply. A ``520-`` block
    is read to its ``520 End of proper usage.`` line so the next reply stays in step.
    EOF raises ``ChannelHungUp``: Asterisk closes the socket when the channel is gone.
    """
    hangups = 0
    while True:
        raw = await transport.read_line()
        if not raw.endswith(b"\n"):
            raise ChannelHungUp("Asterisk closed the connection")
        line = _decode(raw)
        if line == HANGUP_LINE:
            hangups += 1
            continue
        break
    status = _STATUS.fullmatch(line) if line[3:4] == "-" else None
    if status is not None:
        code = status.group("code")
        lines = [line]
        while True:
            raw = await transport.read_line()
            if not raw.endswith(b"\n"):
                raise ChannelHungUp("Asterisk closed the connection inside a usage message")
            lines.append(_decode(raw))
            if lines[-1].startswith(code + " "):
                break
            if len(lines) > MAX_USAGE_LINES:
                raise AgiProtocolError(f"{code}- block longer than {MAX_USAGE_LINES} lines")
        return Reply(code=int(code), lines=tuple(lines), hangups_before=hangups)
    reply = parse_reply_line(line)
    if hangups:
        reply = Reply(
            code=reply.code,
            result=reply.result,
            data=reply.data,
            extra=reply.extra,
            lines=reply.lines,
            hangups_before=hangups,
        )
    return reply


# ---- commands -----------------------------------------------------------------

_PLAIN = re.compile(r'[^\s"\\]+')


def quote(value: str) -> str:
    """Quote one argument the way res_agi's parser splits them.

    ``SET VARIABLE IVR_CHOICE 42`` and ``SET VARIABLE IVR_NOTE "deux mots"`` (1a):
    plain words go bare; spaces, quotes and backslashes go in double quotes with
    ``\\"`` and ``\\\\`` escaped; the empty string is ``""`` (``STREAM FILE x ""``).
    """
    if _PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_command(*words: str) -> bytes:
    """Join a command line; a newline inside an argument would split it into two
    commands on the wire, so it is refused."""
    line = " ".join(words)
    if "\n" in line or "\r" in line or "\0" in line:
        raise ValueError(f"AGI command contains a line break or NUL: {line[:80]!r}")
    return (line + "\n").encode("utf-8")
