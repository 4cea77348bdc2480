"""A typed channel over the raw AGI commands, shared by FastAGI and classic AGI.

Each method sends one command line and turns the reply into a plain value or one of
the layer's exceptions (``agi_scripts.errors``). The rules, from the recordings:

* a hang-up is confirmed only by a ``HANGUP`` line, a ``511`` reply, EOF, or (classic
  AGI) SIGHUP; it raises ``ChannelHungUp`` once, when first noticed. Later commands are
  still sent, because ``SET VARIABLE``, ``DATABASE`` and ``EXEC`` keep working on a dead
  channel (1b) and the runner records the path that way; media commands then answer
  ``511 Command Not Permitted on a dead channel or intercept routine`` and raise again.
* ``200 result=-1`` is not a hang-up: ``STREAM FILE no-such-prompt ""`` answers
  ``200 result=-1 endpos=0`` on a live channel (5a).
* ``510 Invalid or unknown command`` and the ``520-`` usage block raise
  ``AgiCommandError`` with the full text.

Each command waits for its reply only as long as it can legitimately take
(``ReplyLimits``): Asterisk answers ``ANSWER``, ``SET VARIABLE``, ``DATABASE PUT`` and
``CHANNEL STATUS`` at once; ``STREAM FILE`` when the prompt ends (its length, when the
caller gives it, plus a margin); ``WAIT FOR DIGIT`` and ``GET DATA`` when the caller
pressed a key or their own timeout ran out. A peer that stays silent or answers slowly
therefore holds a connection seconds, not the minutes a flat limit would allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Final

from agi_scripts.errors import (
    AgiCommandError,
    AgiError,
    AgiProtocolError,
    ChannelHungUp,
    CommandTimeout,
)
from agi_scripts.protocol import (
    LineTransport,
    Reply,
    SocketTransport,
    format_command,
    quote,
    read_reply,
)
from ivr.logsafe import printable

log = logging.getLogger(__name__)

DTMF_KEYS: Final = frozenset("0123456789*#ABCD")
#: What SAY DIGITS may take per digit said (a digit is well under a second).
SAY_DIGIT_S: Final = 1.5


@dataclass(frozen=True)
class ReplyLimits:
    """How long a reply may take, per kind of command.

    ``quick_s``: commands Asterisk answers at once (``ANSWER``, ``SET``/``GET
    VARIABLE``, ``DATABASE``, ``CHANNEL STATUS``, ``VERBOSE``, ``HANGUP``);
    ``margin_s``: added to what a command legitimately waits on (a prompt's length, the
    caller's timeout); ``unknown_s``: a command whose length nobody knows (``EXEC``, a
    raw ``command()``, ``STREAM FILE`` of a prompt of unknown length).
    """

    quick_s: float = 5.0
    margin_s: float = 5.0
    unknown_s: float = 120.0


_NAME = re.compile(r"[A-Za-z0-9_()./:\-]+")


def _word(value: str, what: str) -> str:
    """A file, variable or family name goes bare on the wire: refuse anything that
    would need quoting rather than send a command Asterisk would split differently."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid {what} for an AGI command: {value!r}")
    return value


def _digit(code: int) -> str | None:
    """``200 result=49`` -> ``"1"``; 0 means no key."""
    if code <= 0:
        return None
    key = chr(code)
    if key not in DTMF_KEYS:
        raise AgiProtocolError(f"result {code} is not a DTMF key")
    return key


def _text(line: bytes) -> str:
    """A command line as the errors quote it."""
    return line.decode("utf-8", errors="replace").rstrip("\n")


async def _within(reading: Coroutine[object, object, Reply], limit_s: float) -> Reply:
    """``reading`` bounded by ``limit_s``: ``TimeoutError`` past it.

    What ``asyncio.timeout`` does around one await (cancel the task at the deadline,
    turn that cancellation, and only that one, into ``TimeoutError``), with one timer
    handle and no other object per command. The FastAGI server's connections use no
    timer at all (``SocketTransport.read_deadline``, failed by the server's sweep);
    this serves classic AGI and any transport nobody sweeps.
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("a command is read within a task")
    loop = asyncio.get_running_loop()
    cancelling = task.cancelling()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    timer = loop.call_at(loop.time() + limit_s, expire)
    try:
        return await reading
    except asyncio.CancelledError:
        if expired and task.uncancel() <= cancelling:
            raise TimeoutError from None
        raise
    except BaseException:
        if expired:  # the reply failed as the limit passed: the cancellation was ours
            task.uncancel()
        raise
    finally:
        timer.cancel()


class Channel:
    """One call's AGI session. Not safe for concurrent use: one command at a time."""

    def __init__(
        self,
        transport: LineTransport,
        *,
        command_timeout_s: float | None = None,
        limits: ReplyLimits | None = None,
        name: str = "",
    ) -> None:
        """``command_timeout_s``, when given, replaces ``limits.unknown_s``."""
        self._transport = transport
        limits = limits or ReplyLimits()
        if command_timeout_s is not None:
            limits = ReplyLimits(limits.quick_s, limits.margin_s, command_timeout_s)
        self.limits = limits
        self.name = name
        self._hung_up = False
        self._hangup_reported = False
        self._broken: str | None = None

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    def mark_hung_up(self) -> None:
        """Classic AGI: SIGHUP says the caller left. The next command raises."""
        self._hung_up = True

    def _report_hangup(self, why: str) -> None:
        self._hung_up = True
        if not self._hangup_reported:
            self._hangup_reported = True
            raise ChannelHungUp(why)

    async def command(self, line: bytes, *, limit_s: float | None = None) -> Reply:
        """Send one command line and read its reply.

        Returns ``200`` replies only; raises ``ChannelHungUp`` for a newly seen
        hang-up (after reading the reply, so the stream stays in step), ``511`` or EOF,
        ``AgiCommandError`` for ``510``/``520``, ``CommandTimeout`` when the whole reply
        has not come within ``limit_s`` (default ``limits.unknown_s``).
        """
        if self._broken is not None:
            raise AgiProtocolError(f"channel unusable: {self._broken}")
        if self._hung_up and not self._hangup_reported:
            self._report_hangup("SIGHUP received")
        transport = self._transport
        await transport.write(line)
        limit = self.limits.unknown_s if limit_s is None else limit_s
        try:
            if isinstance(transport, SocketTransport) and transport.watched:
                transport.read_deadline = asyncio.get_running_loop().time() + limit
                try:
                    reply = await read_reply(transport)
                finally:
                    transport.read_deadline = math.inf
            else:
                reply = await _within(read_reply(transport), limit)
        except TimeoutError:
            self._broken = f"no reply to {printable(_text(line))!r} within {limit:g} s"
            raise CommandTimeout(self._broken) from None
        except ChannelHungUp:
            self._hung_up = True
            self._hangup_reported = True
            raise
        except AgiProtocolError as exc:
            self._broken = str(exc)
            raise
        if reply.code == 200 and not reply.hangups_before:
            return reply
        if reply.hangups_before:
            self._report_hangup(f"HANGUP line before the reply to {_text(line)!r}")
        if reply.code == 511:
            self._hung_up = True
            self._hangup_reported = True
            raise ChannelHungUp(f"{_text(line)!r}: {reply.text}")
        if reply.code != 200:
            raise AgiCommandError(_text(line), reply.code, reply.text)
        return reply

    async def answer(self) -> None:
        """``ANSWER`` -> ``200 result=0``."""
        reply = await self.command(format_command("ANSWER"), limit_s=self.limits.quick_s)
        if reply.result_int() != 0:
            raise AgiCommandError("ANSWER", reply.code, reply.text)

    async def stream_file(
        self,
        name: str,
        escape_digits: str = "",
        *,
        confirm_hangup: bool = False,
        length_s: float | None = None,
    ) -> str | None:
        """Play one file; return the key that interrupted it, or None.

        ``STREAM FILE demo-congrats "123"`` -> ``200 result=49 endpos=17760`` ('1');
        ``200 result=0 endpos=3404`` played to the end. ``200 result=-1 endpos=0`` is a
        missing file on a live channel (5a): logged, not fatal. ``-1`` with a non-zero
        ``endpos`` is a playback cut short, usually because the caller left (1b:
        ``200 result=-1 endpos=16160``). With ``confirm_hangup`` the channel then asks
        ``CHANNEL STATUS``: a dead channel answers ``511`` (1b, 1c), a live one
        ``200 result=6`` (1a), so the hang-up is known at once even with AGISIGHUP=no,
        where no ``HANGUP`` line ever comes.

        Asterisk answers when the prompt ends: ``length_s`` (the longest the prompt can
        last) plus the margin; without it, ``limits.unknown_s``.
        """
        if any(key not in DTMF_KEYS for key in escape_digits):
            raise ValueError(f"invalid escape digits {escape_digits!r}")
        reply = await self.command(
            format_command("STREAM FILE", _word(name, "file name"), f'"{escape_digits}"'),
            limit_s=self._after(length_s),
        )
        code = reply.result_int()
        if code == -1:
            if reply.extra.get("endpos", "") == "0":
                log.warning("prompt %s is missing (STREAM FILE: %s)", name, printable(reply.text))
            else:
                log.info("playback of %s stopped early: %s", name, printable(reply.text))
                if confirm_hangup:
                    await self._channel_status()
            return None
        return _digit(code)

    def _after(self, length_s: float | None) -> float:
        """The limit for a command that plays ``length_s`` at most (None: unknown)."""
        if length_s is None:
            return self.limits.unknown_s
        return max(length_s, 0.0) + self.limits.margin_s

    async def _channel_status(self) -> None:
        await self.command(format_command("CHANNEL STATUS"), limit_s=self.limits.quick_s)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """``WAIT FOR DIGIT 6000`` -> ``200 result=53`` ('5') or ``200 result=0`` (timeout).

        ``-1`` (an error, or a hang-up not yet confirmed) counts as no key; a real
        hang-up is confirmed by the next command.
        """
        reply = await self.command(
            format_command("WAIT FOR DIGIT", str(int(timeout_ms))),
            limit_s=self._after(max(timeout_ms, 0) / 1000),
        )
        code = reply.result_int()
        if code < 0:
            log.info("WAIT FOR DIGIT failed on %s: %s", printable(self.name), printable(reply.text))
            return None
        return _digit(code)

    async def get_data(
        self,
        name: str,
        timeout_ms: int,
        max_digits: int,
        *,
        confirm_hangup: bool = False,
        length_s: float | None = None,
    ) -> tuple[str, bool]:
        """Play a file and collect digits: ``(digits, timed_out)``.

        ``GET DATA beep 6000 3`` -> ``200 result=42`` (the caller typed 4 2 #: the ``#``
        ends the entry and is not returned); ``200 result= (timeout)`` with no key;
        ``200 result=-1`` for a missing file on a live channel (5a), returned as
        ``("", False)``. As with STREAM FILE, ``-1`` may also be a caller who just left:
        with ``confirm_hangup``, ``CHANNEL STATUS`` tells (``511`` on a dead channel).

        Asterisk answers after the prompt (``length_s``, unknown when None) and at most
        ``timeout_ms`` per digit, plus the margin.
        """
        waiting = max(timeout_ms, 0) / 1000 * max(max_digits, 1)
        reply = await self.command(
            format_command("GET DATA", _word(name, "file name"), str(timeout_ms), str(max_digits)),
            limit_s=self._after(None if length_s is None else length_s + waiting),
        )
        if reply.result == "-1":
            log.warning("GET DATA %s failed (missing prompt?): %s", name, printable(reply.text))
            if confirm_hangup:
                await self._channel_status()
            return "", False
        return reply.result, reply.data == "timeout"

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        """``SAY DIGITS 211 ""`` -> ``200 result=0`` (said to the end, in the channel's
        language); a key that interrupted it is returned."""
        if not digits or any(d not in "0123456789" for d in digits):
            raise ValueError(f"SAY DIGITS takes digits only, not {digits!r}")
        if any(key not in DTMF_KEYS for key in escape_digits):
            raise ValueError(f"invalid escape digits {escape_digits!r}")
        reply = await self.command(
            format_command("SAY DIGITS", digits, f'"{escape_digits}"'),
            limit_s=self._after(len(digits) * SAY_DIGIT_S),
        )
        code = reply.result_int()
        if code < 0:
            log.info("SAY DIGITS failed on %s: %s", printable(self.name), printable(reply.text))
            return None
        return _digit(code)

    async def set_variable(self, name: str, value: str) -> None:
        """``SET VARIABLE IVR_NOTE "deux mots"`` -> ``200 result=1``."""
        await self.command(
            format_command("SET VARIABLE", _word(name, "variable"), quote(value)),
            limit_s=self.limits.quick_s,
        )

    async def get_variable(self, name: str) -> str | None:
        """``GET VARIABLE IVR_NOTE`` -> ``200 result=1 (deux mots)``; ``200 result=0``
        when the variable does not exist."""
        reply = await self.command(
            format_command("GET VARIABLE", _word(name, "variable")), limit_s=self.limits.quick_s
        )
        if reply.result != "1":
            return None
        return reply.data or ""

    async def database_put(self, family: str, key: str, value: str) -> bool:
        """``DATABASE PUT lab211 lastchoice 42`` -> ``200 result=1`` (0 = not stored)."""
        reply = await self.command(
            format_command(
                "DATABASE PUT", _word(family, "AstDB family"), _word(key, "AstDB key"), quote(value)
            ),
            limit_s=self.limits.quick_s,
        )
        return reply.result == "1"

    async def database_get(self, family: str, key: str) -> str | None:
        """``DATABASE GET lab211 lastchoice`` -> ``200 result=1 (42)``; ``200 result=0``."""
        reply = await self.command(
            format_command("DATABASE GET", _word(family, "AstDB family"), _word(key, "AstDB key")),
            limit_s=self.limits.quick_s,
        )
        if reply.result != "1":
            return None
        return reply.data or ""

    async def exec_app(self, app: str, *args: str) -> int:
        """``EXEC Playback beep`` -> ``200 result=0``; ``EXEC NoSuchApplication foo`` ->
        ``200 result=-2``, raised as ``AgiCommandError``."""
        words = ["EXEC", _word(app, "application")]
        if args:
            words.append(quote(",".join(args)))
        line = format_command(*words)
        reply = await self.command(line, limit_s=2 * self.limits.unknown_s)
        code = reply.result_int()
        if code == -2:
            raise AgiCommandError(" ".join(words), reply.code, f"no application {app}")
        return code

    async def verbose(self, message: str, level: int = 1) -> None:
        """``VERBOSE "211 lab: IVR start" 1`` -> ``200 result=1``."""
        text = message.replace("\\", "\\\\").replace('"', '\\"')
        await self.command(
            format_command("VERBOSE", f'"{text}"', str(level)), limit_s=self.limits.quick_s
        )

    async def hangup(self) -> None:
        """``HANGUP``; on a channel already gone Asterisk answers 511 (1b), not an error."""
        with contextlib.suppress(ChannelHungUp):
            await self.command(format_command("HANGUP"), limit_s=self.limits.quick_s)

    async def close(self) -> None:
        """Close the transport: a dead channel lingers in Asterisk until then (1e)."""
        try:
            await self._transport.close()
        except (AgiError, OSError):
            log.debug("error closing %s", printable(self.name), exc_info=True)
