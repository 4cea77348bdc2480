"""Test helpers: the recorded wire logs, line settings, and a fake Asterisk over TCP.

Every line the fake Asterisk sends is taken from tests/fixtures/agi/ (recorded from
Asterisk 22.10.1): the header block of 1a and the reply lines of 1a, 1b, 1c, 1d and 5a.
Where a reply carries a key, the recorded form is kept and only the ASCII code of the
key changes (``200 result=49 endpos=17760`` for '1' becomes ``200 result=50 ...`` for '2').
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from agi_scripts.calllog import CallLog
from agi_scripts.server import ServerOptions, serve
from ivr.settings import (
    DayHours,
    Destination,
    LineSettings,
    Schedule,
    WeeklyHours,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agi"
ZONE = ZoneInfo("America/Toronto")

# ---- recorded wire logs ---------------------------------------------------------

_LINE = re.compile(r"^\s*(?:\+\s*[\d.]+\s+)?(A->S|S->A) (b?'.*')\s*$")


def wire(name: str) -> list[tuple[str, bytes]]:
    """(direction, line) for every line of a recorded wire log, in order.

    5a puts a whole chunk on one line (``A->S b'agi_network: yes\\nagi_...'``) and the
    server's lines as ``str`` literals: both are split into lines here.
    """
    out: list[tuple[str, bytes]] = []
    for text in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        match = _LINE.match(text)
        if match is None:
            continue
        value = ast.literal_eval(match.group(2))
        data = value if isinstance(value, bytes) else value.encode()
        out.extend((match.group(1), line) for line in data.splitlines(keepends=True))
    return out


def exchanges(name: str) -> list[tuple[bytes, list[bytes]]]:
    """(command sent, lines Asterisk sent after it until the next command)."""
    result: list[tuple[bytes, list[bytes]]] = []
    for direction, line in wire(name):
        if direction == "S->A":
            result.append((line, []))
        elif result:
            result[-1][1].append(line)
    return result


def recorded(name: str, command: bytes) -> list[bytes]:
    """The lines Asterisk answered to ``command`` (first occurrence) in ``name``."""
    for sent, reply in exchanges(name):
        if sent == command:
            return reply
    raise KeyError(f"{command!r} not in {name}")


def recorded_header(name: str = "1a-walkthrough.wire.txt") -> list[bytes]:
    """The header block Asterisk sent, up to and including its empty line."""
    lines: list[bytes] = []
    for direction, line in wire(name):
        if direction != "A->S":
            break
        lines.append(line)
        if line == b"\n":
            return lines
    raise ValueError(f"no complete header in {name}")


def header_for(
    route: str = "incoming",
    *,
    args: Iterable[str] = (),
    callerid: str | None = None,
    calleridname: str | None = None,
    callingpres: str | None = None,
    language: str | None = None,
    source: str = "1a-walkthrough.wire.txt",
) -> list[bytes]:
    """1a's header with our route in ``agi_network_script``/``agi_request`` and our
    AGI() arguments in place of 1a's ``agi_arg_N`` lines; the rest is untouched, except
    the caller ID lines a test names."""
    out: list[bytes] = []
    for line in recorded_header(source):
        key = line.split(b":", 1)[0].decode()
        if key.startswith("agi_arg_") or line == b"\n":
            continue
        if key == "agi_network_script":
            line = f"agi_network_script: {route}\n".encode()
        elif key == "agi_request":
            url = line.decode().split(": ", 1)[1].rsplit("/", 1)[0]
            line = f"agi_request: {url}/{route}\n".encode()
        elif key == "agi_callerid" and callerid is not None:
            line = f"agi_callerid: {callerid}\n".encode()
        elif key == "agi_calleridname" and calleridname is not None:
            line = f"agi_calleridname: {calleridname}\n".encode()
        elif key == "agi_callingpres" and callingpres is not None:
            line = f"agi_callingpres: {callingpres}\n".encode()
        elif key == "agi_language" and language is not None:
            line = f"agi_language: {language}\n".encode()
        out.append(line)
    out += [f"agi_arg_{i}: {value}\n".encode() for i, value in enumerate(args, start=1)]
    out.append(b"\n")
    return out


W1A = "1a-walkthrough.wire.txt"
W1B = "1b-caller-hangs-up.wire.txt"
W1C = "1c-agisighup-no.wire.txt"
W1D = "1d-agiexitonhangup-yes.wire.txt"
W5A = "5a-agi-missing-prompt.txt"

ANSWERED = recorded(W1A, b"ANSWER\n")  # [b'200 result=0\n']
SET_OK = recorded(W1A, b"SET VARIABLE IVR_CHOICE 42\n")  # [b'200 result=1\n']
DB_PUT_OK = recorded(W1A, b"DATABASE PUT lab211 lastchoice 42\n")
PLAYED = recorded(W5A, b'STREAM FILE beep ""\n')  # [b'200 result=0 endpos=3404\n']
MISSING_PROMPT = recorded(W5A, b'STREAM FILE no-such-prompt ""\n')  # endpos=0
KEY_DURING_PROMPT = recorded(W1A, b'STREAM FILE demo-congrats "123"\n')  # result=49
KEY_WAITED = recorded(W1A, b"WAIT FOR DIGIT 6000\n")  # [b'200 result=53\n']
NO_KEY_WAITED = recorded(W1A, b"WAIT FOR DIGIT 500\n")  # [b'200 result=0\n']
UNKNOWN_COMMAND = recorded(W1A, b"FOO BAR\n")  # 510
USAGE = recorded(W1A, b"STREAM FILE\n")  # the whole 520 block
HUNG_UP_DURING_PROMPT = recorded(W1B, b'STREAM FILE tt-monkeys ""\n')  # result=-1 endpos=16160
DEAD = recorded(W1B, b'STREAM FILE beep ""\n')  # 511
HANGUP_THEN_REPLY = recorded(W1B, b"GET VARIABLE CHANNEL(state)\n")  # HANGUP, 200 result=1 (Up)
HANGUP_LINE = HANGUP_THEN_REPLY[0]
EXIT_ON_HANGUP = recorded(W1D, b'STREAM FILE tt-monkeys ""\n')  # -1, HANGUP, HANGUP (then EOF)


CHANNEL_UP = recorded(W1A, b"CHANNEL STATUS\n")  # [b'200 result=6\n']
DIGITS_ENTERED = recorded(W1A, b"GET DATA beep 6000 3\n")  # [b'200 result=42\n'] (4 2 #)
NO_DIGITS = recorded(W1A, b"GET DATA beep 700 2\n")  # [b'200 result= (timeout)\n']
GET_DATA_MISSING = recorded(W5A, b"GET DATA no-such-prompt 1000 1\n")  # [b'200 result=-1\n']
SAID_DIGITS = recorded(W1A, b'SAY DIGITS 211 ""\n')  # [b'200 result=0\n']
MISSING = "missing"  # a GET DATA entry in ``keys``: the prompt file is missing (5a)
CLOSE = b""  # marker in a reply list: close the socket after the lines before it


def with_digits(digits: str) -> list[bytes]:
    """1a's ``200 result=42`` with other digits (the caller typed them, then #)."""
    (line,) = DIGITS_ENTERED
    return [line.replace(b"result=42", b"result=" + digits.encode())]


def with_key(template: list[bytes], key: str) -> list[bytes]:
    """A recorded key reply with another key's ASCII code."""
    (line,) = template
    return [re.sub(rb"result=\d+", b"result=%d" % ord(key), line)]


# ---- line settings and clocks --------------------------------------------------


def line_settings(**changes: object) -> LineSettings:
    """The domain brief's default line: Mon-Fri 08:00-19:00, weekends and holidays
    08:00-15:30, America/Toronto; 811 and the suicide-prevention line for the
    closed-hours menu."""
    weekday = DayHours(time(8), time(19))
    weekend = DayHours(time(8), time(15, 30))
    days = {d: weekday for d in range(5)} | {5: weekend, 6: weekend}
    settings = LineSettings(
        schedule=Schedule(timezone="America/Toronto", weekly=WeeklyHours(days, weekend)),
        destinations=(
            Destination("911", "Urgence", "Emergency", "emergency", "911", {"*": "911"}),
            Destination("811", "Info-Santé", "Info-Santé", "emergency", "811", {"*": "811"}),
            Destination(
                "cps",
                "Prévention suicide",
                "Suicide prevention",
                "emergency",
                "18662773553",
                {"*": "18662773553"},
            ),
        ),
        territory="capitale-nationale",
    )
    return replace(settings, **changes) if changes else settings  # type: ignore[arg-type]


OPEN_NOW = datetime(2025, 6, 11, 10, 0, tzinfo=ZONE)  # a Wednesday morning
CLOSED_NOW = datetime(2025, 6, 11, 22, 0, tzinfo=ZONE)  # the same Wednesday night


def fixed_clock(now: datetime) -> Callable[[], datetime]:
    return lambda: now


# ---- the server under test -----------------------------------------------------


@contextlib.asynccontextmanager
async def running_server(
    settings_source: Callable[[], LineSettings] | None = None,
    now: datetime = OPEN_NOW,
    calls: CallLog | None = None,
    **options: float,
) -> AsyncIterator[ServerOptions]:
    """The real FastAGI server on 127.0.0.1, an ephemeral port; cancelled and awaited
    on exit. ``calls``: the call log each finished session hands its call fact to."""
    opts = ServerOptions(host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]
    started = asyncio.Event()
    task = asyncio.create_task(
        serve(
            opts,
            settings_source or line_settings,
            clock=fixed_clock(now),
            started=started,
            calls=calls,
        )
    )
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        task.result()
    try:
        yield opts
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---- the fake Asterisk ---------------------------------------------------------


def split_args(line: str) -> list[str]:
    """res_agi's word splitting (blanks, double quotes, backslash), written
    independently of the code under test."""
    words: list[str] = []
    word: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if escaped:
            word = (word or []) + [ch]
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            word = word or []
        elif ch == " " and not quoted:
            if word is not None:
                words.append("".join(word))
            word = None
        else:
            word = (word or []) + [ch]
    if word is not None:
        words.append("".join(word))
    return words


Responder = Callable[["FakeAsterisk", str], list[bytes] | None]


@dataclass
class FakeAsterisk:
    """Connects to the server like Asterisk's res_agi, sends a header, answers commands.

    ``keys``: one entry per chance to press a key (each STREAM FILE with escape digits,
    each WAIT FOR DIGIT): a DTMF key, or "t" for none; for GET DATA the digits typed
    before #, "t" for none, or ``MISSING``. After the script: no key.
    ``override(fake, command)`` may return the lines to send instead: ``[]`` closes the
    socket without a reply, a list ending with ``CLOSE`` closes it after the lines.
    """

    port: int
    header: list[bytes] = field(default_factory=header_for)
    keys: list[str] = field(default_factory=list)
    override: Responder | None = None
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    database: dict[tuple[str, str], str] = field(default_factory=dict)
    language: str = ""
    prompts: list[tuple[str, str]] = field(default_factory=list)  # (file, language)
    closed_by_us: bool = False
    hung_up: bool = False
    hangup_line_sent: bool = False

    def next_key(self) -> str | None:
        if not self.keys:
            return None
        key = self.keys.pop(0)
        return None if key == "t" else key

    def count(self, prefix: str) -> int:
        return sum(1 for c in self.commands if c.startswith(prefix))

    def default_reply(self, command: str) -> list[bytes]:
        words = split_args(command)
        if self.hung_up and command.startswith(
            ("STREAM FILE", "WAIT FOR DIGIT", "ANSWER", "CHANNEL STATUS")
        ):
            return DEAD
        if command == "ANSWER":
            return ANSWERED
        if command.startswith("SET VARIABLE "):
            self.variables[words[2]] = words[3]
            if words[2] == "CHANNEL(language)":
                self.language = words[3]
            return SET_OK
        if command.startswith("DATABASE PUT "):
            self.database[(words[2], words[3])] = words[4]
            return DB_PUT_OK
        if command.startswith("STREAM FILE "):
            self.prompts.append((words[2], self.language))
            if words[3]:
                key = self.next_key()
                if key is not None:
                    assert key in words[3], f"test script presses {key} during {command}"
                    return with_key(KEY_DURING_PROMPT, key)
            return PLAYED
        if command.startswith("GET DATA "):
            self.prompts.append((words[2], self.language))
            entry = self.next_key()
            if entry == MISSING:
                return GET_DATA_MISSING
            return NO_DIGITS if entry is None else with_digits(entry)
        if command.startswith("SAY DIGITS "):
            return SAID_DIGITS
        if command == "CHANNEL STATUS":
            return CHANNEL_UP
        if command.startswith("WAIT FOR DIGIT "):
            key = self.next_key()
            return NO_KEY_WAITED if key is None else with_key(KEY_WAITED, key)
        return UNKNOWN_COMMAND

    async def run(self, *, timeout_s: float = 10.0) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.language = next(
            (
                h.decode().split(": ", 1)[1].strip()
                for h in self.header
                if h.startswith(b"agi_language")
            ),
            "",
        )
        try:
            async with asyncio.timeout(timeout_s):
                writer.writelines(self.header)
                await writer.drain()
                while line := await reader.readline():
                    command = line.decode().rstrip("\n")
                    self.commands.append(command)
                    reply = None if self.override is None else self.override(self, command)
                    if reply is None:
                        reply = self.default_reply(command)
                    if reply and reply[-1] == CLOSE:
                        writer.writelines(reply[:-1])
                        await writer.drain()
                        reply = []
                    if not reply:
                        self.closed_by_us = True
                        break
                    writer.writelines(reply)
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return self


def route_of(fake: FakeAsterisk) -> str | None:
    return fake.variables.get("IVR_ROUTE")
