"""A small interpreter for OUR extensions.conf, to test the fallback paths without Asterisk.

It knows only what asterisk_conf/extensions.conf uses: the applications Answer,
NoOp, Verbose, Set, Goto, GotoIf, GotoIfTime, Gosub, Return, Playback, AGI, Queue,
VoiceMail, Dial, Hangup, CELGenUserEvent (each event kept in ``cel_events``); the
functions DB, GLOBAL, STRFTIME, IF, REGEX, FILTER (with func_strings' ranges,
``0-9``), CALLERID, CHANNEL (language, linkedid), LOCAL; ``$[...]`` expressions with
``| & = != < > <= >= + -``. Anything else raises ``SimError``, so a dialplan change that
needs more fails loudly here.

As in Asterisk, the application data is substituted first and parsed after, and a
call that runs off the end of an extension hangs up (``autofallthrough=yes``).
``pushed_globals`` are the globals set at run time over AMI (``Setvar GLOBAL(NAME)``,
2r): ``${GLOBAL(NAME)}`` and ``${NAME}`` read them like those of ``[globals]``.

``AGI()`` behaves as res_agi does (transcripts 1a, 1f, 1g, 1i): it connects over
TCP to the FastAGI URL; a refused connection gives ``AGISTATUS=FAILURE`` and the
dialplan continues (1g); otherwise it sends the ``agi_*`` header block in the form
1a recorded, answers ``SET VARIABLE`` / ``GET VARIABLE`` / ``ANSWER`` with the reply
lines recorded in 1a, and when the server closes the socket -- after the header
(1i) or in the middle of the flow (1f) -- returns ``AGISTATUS=SUCCESS`` keeping the
variables that were set.
"""

from __future__ import annotations

import ast
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .confparse import CONF_DIR, load

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WALKTHROUGH = FIXTURES / "1a-agi-ivr-walkthrough.txt"
MAX_STEPS = 2000
AGI_READ_TIMEOUT_S = 10.0


class SimError(Exception):
    """The dialplan did something this interpreter (or Asterisk) would reject."""


class CallEnded(Exception):
    """The channel hung up (Hangup(), an answered Dial/Queue leg ending, fall-through)."""


# --------------------------------------------------------------------------- dialplan


@dataclass(frozen=True)
class Priority:
    number: int
    label: str | None
    app: str
    data: str


@dataclass
class Extension:
    name: str
    priorities: list[Priority] = field(default_factory=list)

    def index_of(self, target: str) -> int:
        for i, prio in enumerate(self.priorities):
            if target == prio.label or (target.isdigit() and int(target) == prio.number):
                return i
        raise SimError(f"no priority or label {target!r} in extension {self.name}")


_PRIO = re.compile(r"^(?P<num>\d+|n)(?:\((?P<label>[^)]+)\))?$")
_APP = re.compile(r"^(?P<app>[A-Za-z]+)\((?P<data>.*)\)$")


def _split_app(text: str) -> tuple[str, str]:
    match = _APP.match(text.strip())
    if match is None:
        raise SimError(f"cannot read application {text!r}")
    return match["app"], match["data"]


class Dialplan:
    def __init__(self, contexts: dict[str, dict[str, Extension]], globals_: dict[str, str]):
        self.contexts = contexts
        self.globals = globals_

    @classmethod
    def load(cls, conf_dir: Path = CONF_DIR) -> Dialplan:
        conf = load("extensions.conf", conf_dir)
        contexts: dict[str, dict[str, Extension]] = {}
        globals_: dict[str, str] = {}
        for section in conf.sections:
            if section.name == "general":
                continue
            if section.name == "globals":
                globals_.update(dict(section.entries))
                continue
            extens = contexts.setdefault(section.name, {})
            current: Extension | None = None
            for key, value in section.entries:
                if key == "exten":
                    name, prio, rest = value.split(",", 2)
                    current = extens.setdefault(name, Extension(name))
                elif key == "same" and current is not None:
                    prio, rest = value.split(",", 1)
                else:
                    raise SimError(f"[{section.name}]: unexpected {key} => {value}")
                match = _PRIO.match(prio)
                if match is None:
                    raise SimError(f"[{section.name}]: bad priority {prio!r}")
                last = current.priorities[-1].number if current.priorities else 0
                number = last + 1 if match["num"] == "n" else int(match["num"])
                app, data = _split_app(rest)
                current.priorities.append(Priority(number, match["label"], app, data))
        return cls(contexts, globals_)

    def find(self, context: str, exten: str) -> Extension:
        extens = self.contexts.get(context)
        if extens is None:
            raise SimError(f"no context [{context}]")
        if exten in extens:
            return extens[exten]
        for name, extension in extens.items():
            if name.startswith("_") and pattern_matches(name[1:], exten):
                return extension
        raise SimError(f"no extension {exten!r} in [{context}]")


def pattern_matches(pattern: str, exten: str) -> bool:
    regex = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "X":
            regex += "[0-9]"
        elif char == "Z":
            regex += "[1-9]"
        elif char == "N":
            regex += "[2-9]"
        elif char == ".":
            regex += ".+"
        elif char == "!":
            regex += ".*"
        elif char == "[":
            end = pattern.index("]", i)
            regex += "[" + pattern[i + 1 : end] + "]"
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return re.fullmatch(regex, exten) is not None


# ------------------------------------------------------------------------ expressions

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"]*")|(?P<op>!=|<=|>=|=|<|>|&|\||\(|\)|\+|-)|(?P<word>[^\s"=!<>&|()+-]+))'
)


def _truthy(value: str) -> bool:
    return value not in ("", "0")


def _number(value: str) -> int | None:
    return int(value) if re.fullmatch(r"-?\d+", value) else None


def evaluate(expression: str) -> str:
    """``$[...]`` with the precedence of Asterisk's ast_expr2: | < & < comparisons < + -."""
    tokens: list[str] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SimError(f"cannot tokenize $[{expression}]")
        tokens.append(match.group(0).strip())
        pos = match.end()
    parser = _ExprParser(tokens, expression)
    value = parser.parse_or()
    if parser.pos != len(tokens):
        raise SimError(f"syntax error in $[{expression}]")
    return value


class _ExprParser:
    def __init__(self, tokens: list[str], source: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.source = source

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_or(self) -> str:
        left = self.parse_and()
        while self._peek() == "|":
            self.pos += 1
            right = self.parse_and()
            left = left if _truthy(left) else ("1" if _truthy(right) else "0")
        return left

    def parse_and(self) -> str:
        left = self.parse_cmp()
        while self._peek() == "&":
            self.pos += 1
            right = self.parse_cmp()
            left = left if (_truthy(left) and _truthy(right)) else "0"
        return left

    def parse_cmp(self) -> str:
        left = self.parse_sum()
        while self._peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = self.tokens[self.pos]
            self.pos += 1
            right = self.parse_sum()
            a, b = _number(left), _number(right)
            pair: tuple[int, int] | tuple[str, str] = (
                (a, b) if a is not None and b is not None else (left, right)
            )
            x, y = pair
            result = {
                "=": x == y,
                "!=": x != y,
                "<": x < y,  # type: ignore[operator]
                ">": x > y,  # type: ignore[operator]
                "<=": x <= y,  # type: ignore[operator]
                ">=": x >= y,  # type: ignore[operator]
            }[op]
            left = "1" if result else "0"
        return left

    def parse_sum(self) -> str:
        left = self.parse_atom()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            right = self.parse_atom()
            a, b = _number(left), _number(right)
            if a is None or b is None:
                raise SimError(f"non-numeric operand in $[{self.source}]")
            left = str(a + b if op == "+" else a - b)
        return left

    def parse_atom(self) -> str:
        token = self._peek()
        if token == "-":  # unary minus, as in Asterisk's ast_expr2 grammar: $[-60 >= 600]
            self.pos += 1
            value = _number(self.parse_atom())
            if value is None:
                raise SimError(f"non-numeric operand of unary - in $[{self.source}]")
            return str(-value)
        if token is None or token in ("|", "&", "=", "!=", "<", ">", "<=", ">=", "+", ")"):
            raise SimError(f"missing operand in $[{self.source}]")
        self.pos += 1
        if token == "(":
            value = self.parse_or()
            if self._peek() != ")":
                raise SimError(f"unbalanced ( in $[{self.source}]")
            self.pos += 1
            return value
        if token.startswith('"'):
            return token[1:-1]
        return token


# ---------------------------------------------------------------------------- the call


@dataclass(frozen=True)
class Event:
    """One application the channel ran, with its substituted data."""

    app: str
    data: str
    context: str
    exten: str


@dataclass
class Frame:
    context: str
    exten: str
    index: int
    locals: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


@dataclass
class Call:
    """One incoming call: the scenario (clock, AstDB, what Queue and Dial do) and the trace.

    ``queue_outcomes`` / ``dial_outcomes`` are consumed in order; a Queue outcome is a
    QUEUESTATUS value (TIMEOUT, JOINEMPTY, ...) or ``CONNECTED`` (a navigator answered,
    talked and hung up: without option c the caller's call ends); a Dial outcome is a
    DIALSTATUS value (ANSWER ends the call, like Dial without option g).
    """

    dialplan: Dialplan
    now: datetime
    astdb: Mapping[str, str] = field(default_factory=dict)
    caller_num: str = "4185550100"
    caller_name: str = "Tremblay Marie"
    linkedid: str = "1796398477.55"
    queue_outcomes: list[str] = field(default_factory=list)
    dial_outcomes: list[str] = field(default_factory=list)
    voicemail_outcomes: list[str] = field(default_factory=list)
    global_overrides: Mapping[str, str] = field(default_factory=dict)
    pushed_globals: Mapping[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    inherited: set[str] = field(default_factory=set)
    language: str = "en"
    events: list[Event] = field(default_factory=list)
    playbacks: list[tuple[str, str]] = field(default_factory=list)
    agi_requests: list[str] = field(default_factory=list)
    agi_commands: list[str] = field(default_factory=list)
    ended_by: str = ""
    cel_events: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.globals = {**self.dialplan.globals, **self.global_overrides, **self.pushed_globals}
        self._frames: list[Frame] = []
        self._apps: dict[str, Callable[[str], None]] = {
            "Answer": self._noop,
            "NoOp": self._noop,
            "Verbose": self._noop,
            "Set": self._set,
            "Goto": self._goto,
            "GotoIf": self._gotoif,
            "GotoIfTime": self._gotoiftime,
            "Gosub": self._gosub,
            "Return": self._return,
            "Playback": self._playback,
            "AGI": self._agi,
            "Queue": self._queue,
            "VoiceMail": self._voicemail,
            "Dial": self._dial,
            "Hangup": self._hangup,
            "CELGenUserEvent": self._cel_user_event,
        }

    # -- running

    def run(self, context: str, exten: str) -> Call:
        self._frames = [Frame(context, self.dialplan.find(context, exten).name, 0)]
        self.variables.setdefault("EXTEN", exten)
        try:
            for _ in range(MAX_STEPS):
                frame = self._frames[-1]
                extension = self.dialplan.find(frame.context, frame.exten)
                if frame.index >= len(extension.priorities):
                    raise CallEnded("fell through the end of the extension")
                prio = extension.priorities[frame.index]
                frame.index += 1
                data = self.substitute(prio.data)
                self.events.append(Event(prio.app, data, frame.context, frame.exten))
                handler = self._apps.get(prio.app)
                if handler is None:
                    raise SimError(f"application {prio.app} is not simulated")
                handler(data)
            raise SimError(f"more than {MAX_STEPS} steps: the dialplan loops")
        except CallEnded as end:
            self.ended_by = str(end)
        return self

    def apps(self, name: str) -> list[str]:
        """The substituted data of every run of application ``name``, in order."""
        return [e.data for e in self.events if e.app == name]

    def played(self) -> list[str]:
        return [f for data in self.apps("Playback") for f in data.split("&")]

    def heard(self) -> list[str]:
        """Each file played, as ``<language>/<file>``: the sound folder Asterisk picks
        from ``CHANNEL(language)``."""
        return [f"{language}/{file}" for language, file in self.playbacks]

    # -- variables and functions

    def get(self, name: str) -> str:
        if self._frames and name in self._frames[-1].locals:
            return self._frames[-1].locals[name]
        if name == "EPOCH":
            return str(int(self.now.timestamp()))
        if re.fullmatch(r"ARG\d+", name) and self._frames:
            index = int(name[3:]) - 1
            args = self._frames[-1].args
            return args[index] if index < len(args) else ""
        if name in self.variables:
            return self.variables[name]
        return self.globals.get(name, "")

    def substitute(self, text: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("${", i) or text.startswith("$[", i):
                opening = text[i + 1]
                closing = "}" if opening == "{" else "]"
                depth, j = 0, i + 1
                while j < len(text):
                    if text[j] == opening:
                        depth += 1
                    elif text[j] == closing:
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                else:
                    raise SimError(f"unbalanced {opening} in {text!r}")
                inner = self.substitute(text[i + 2 : j])
                out.append(self._value(inner) if opening == "{" else evaluate(inner))
                i = j + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _value(self, inner: str) -> str:
        match = re.fullmatch(r"([A-Z_]+)\((.*)\)", inner, re.DOTALL)
        if match is None:
            return self.get(inner)
        func, arg = match.groups()
        if func == "DB":
            return self.astdb.get(arg, "")
        if func == "GLOBAL":
            return self.globals.get(arg, "")
        if func == "STRFTIME":
            epoch, tz, fmt = arg.split(",", 2)
            moment = datetime.fromtimestamp(int(epoch), ZoneInfo(tz))
            return moment.strftime(fmt)
        if func == "IF":
            cond, _, branches = arg.partition("?")
            yes, _, no = branches.partition(":")
            return yes if _truthy(cond.strip()) else no
        if func == "REGEX":
            found = re.fullmatch(r'\s*"([^"]*)"\s?(.*)', arg, re.DOTALL)
            if found is None:
                raise SimError(f"REGEX wants a quoted pattern: {arg!r}")
            return "1" if re.search(found[1], found[2]) else "0"
        if func == "FILTER":
            allowed, _, value = arg.partition(",")
            chars = filter_set(allowed)
            return "".join(c for c in value if c in chars)
        if func == "CALLERID":
            return {"num": self.caller_num, "name": self.caller_name}[arg]
        if func == "CHANNEL" and arg == "language":
            return self.language
        if func == "CHANNEL" and arg == "linkedid":
            return self.linkedid
        raise SimError(f"function {func} is not simulated")

    # -- applications

    def _noop(self, data: str) -> None:
        return None

    def _playback(self, data: str) -> None:
        self.playbacks.extend((self.language, file) for file in data.split("&"))

    def _set(self, data: str) -> None:
        name, sep, value = data.partition("=")
        if not sep:
            raise SimError(f"Set without '=': {data!r}")
        if name == "CHANNEL(language)":
            self.language = value
        elif name == "CALLERID(name)":
            self.caller_name = value
        elif name == "CALLERID(num)":
            self.caller_num = value
        elif name.startswith("LOCAL(") and name.endswith(")"):
            self._frames[-1].locals[name[6:-1]] = value
        elif "(" in name:
            raise SimError(f"Set of {name} is not simulated")
        else:
            if name.startswith("__"):
                name = name[2:]
                self.inherited.add(name)
            elif name.startswith("_"):
                raise SimError(f"single-underscore inheritance not used: {name}")
            self.variables[name] = value

    def _jump(self, target: str) -> None:
        parts = [p.strip() for p in target.split(",")]
        frame = self._frames[-1]
        if len(parts) == 3:
            frame.context, frame.exten = parts[0], self.dialplan.find(parts[0], parts[1]).name
        elif len(parts) == 2:
            frame.exten = self.dialplan.find(frame.context, parts[0]).name
        elif len(parts) != 1:
            raise SimError(f"bad Goto target {target!r}")
        frame.index = self.dialplan.find(frame.context, frame.exten).index_of(parts[-1])
        self.variables["EXTEN"] = frame.exten

    def _goto(self, data: str) -> None:
        self._jump(data)

    def _branch(self, condition: bool, branches: str) -> None:
        yes, _, no = branches.partition(":")
        target = yes if condition else no
        if target:
            self._jump(target)

    def _gotoif(self, data: str) -> None:
        cond, sep, branches = data.partition("?")
        if not sep:
            raise SimError(f"GotoIf without '?': {data!r}")
        self._branch(_truthy(cond.strip()), branches)

    def _gotoiftime(self, data: str) -> None:
        spec, sep, branches = data.partition("?")
        if not sep:
            raise SimError(f"GotoIfTime without '?': {data!r}")
        self._branch(time_matches(spec, self.now), branches)

    def _gosub(self, data: str) -> None:
        match = re.fullmatch(r"([^,(]+),([^,(]+),([^,(]+)(?:\((.*)\))?", data)
        if match is None:
            raise SimError(f"Gosub form not simulated: {data!r}")
        context, exten, prio, args = match.groups()
        extension = self.dialplan.find(context, exten)
        self._frames.append(
            Frame(context, extension.name, extension.index_of(prio), args=(args or "").split(","))
        )

    def _return(self, data: str) -> None:
        """``Return(value)`` sets GOSUB_RETVAL on the channel, as app_stack does."""
        if len(self._frames) < 2:
            raise SimError("Return without Gosub")
        self._frames.pop()
        self.variables["GOSUB_RETVAL"] = data

    def _queue(self, data: str) -> None:
        outcome = self.queue_outcomes.pop(0) if self.queue_outcomes else "TIMEOUT"
        if outcome == "CONNECTED":
            raise CallEnded("navigator hung up after the call")
        self.variables["QUEUESTATUS"] = outcome

    def _dial(self, data: str) -> None:
        outcome = self.dial_outcomes.pop(0) if self.dial_outcomes else "NOANSWER"
        self.variables["DIALSTATUS"] = outcome
        if outcome == "ANSWER":
            raise CallEnded("the dialled party hung up after the call")

    def _voicemail(self, data: str) -> None:
        """app_voicemail sets VMSTATUS (2e: ``Variable: VMSTATUS`` ``Value: SUCCESS``)."""
        outcome = self.voicemail_outcomes.pop(0) if self.voicemail_outcomes else "SUCCESS"
        self.variables["VMSTATUS"] = outcome

    def _hangup(self, data: str) -> None:
        raise CallEnded("Hangup()")

    def _cel_user_event(self, data: str) -> None:
        """``CELGenUserEvent(name[,extra])``: the row's eventtype is the name, its extra
        ``{"extra": ...}`` (2n). What a comma inside the extra does is not recorded:
        refused here."""
        name, _, extra = data.partition(",")
        if not name or "," in extra:
            raise SimError(f"CELGenUserEvent({data}): no name, or a comma in the extra")
        self.cel_events.append((name, extra))

    def _agi(self, data: str) -> None:
        url, *args = data.split(",")
        parts = urlsplit(url)
        if parts.scheme != "agi" or parts.hostname is None or parts.port is None:
            raise SimError(f"only agi://host:port/script is simulated: {url}")
        self.agi_requests.append(data)
        try:
            sock = socket.create_connection((parts.hostname, parts.port), timeout=2.0)
        except ConnectionRefusedError:
            self.variables["AGISTATUS"] = "FAILURE"
            return
        with sock, sock.makefile("rb") as reader:
            sock.settimeout(AGI_READ_TIMEOUT_S)
            frame = self._frames[-1]
            header = agi_header(
                script=parts.path.lstrip("/"),
                request=url,
                context=frame.context,
                extension=frame.exten,
                priority=str(frame.index),
                language=self.language,
                callerid=self.caller_num,
                calleridname=self.caller_name,
                args=args,
            )
            try:
                sock.sendall(header)
                for raw in reader:
                    self.agi_commands.append(raw.decode().rstrip("\n"))
                    reply = self._agi_command(self.agi_commands[-1])
                    sock.sendall(reply.encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server went away mid-command: still SUCCESS (1f)
            except TimeoutError as exc:
                raise SimError("the FastAGI server neither spoke nor closed (1j)") from exc
        self.variables["AGISTATUS"] = "SUCCESS"

    def _agi_command(self, line: str) -> str:
        replies = recorded_replies()
        words = line.split(" ", 2)
        if words[:2] == ["SET", "VARIABLE"] and len(words) == 3:
            name, _, value = words[2].partition(" ")
            if value.startswith('"'):
                value = ast.literal_eval(value)
            self._set(f"{name}={value}")
            return replies["SET VARIABLE"]
        if words[:2] == ["GET", "VARIABLE"] and len(words) == 3:
            if words[2] in self.variables:
                return replies["GET VARIABLE set"].replace("(42)", f"({self.variables[words[2]]})")
            return replies["GET VARIABLE unset"]
        if line == "ANSWER":
            return replies["ANSWER"]
        return replies["unknown"]


def filter_set(allowed: str) -> set[str]:
    """The characters FILTER keeps, as func_strings expands them: ``a-z`` is a range
    (``c1-c2``), a ``-`` that does not follow a character is itself."""
    chars: set[str] = set()
    i = 0
    while i < len(allowed):
        first = allowed[i]
        if i + 1 < len(allowed) and allowed[i + 1] == "-":
            last = allowed[i + 2] if i + 2 < len(allowed) else first
            chars.update(chr(c) for c in range(ord(first), ord(last) + 1))
            i += 3
        else:
            chars.add(first)
            i += 1
    return chars


def time_matches(spec: str, now: datetime) -> bool:
    """GotoIfTime's ``times,weekdays,mdays,months[,timezone]``; ranges include both ends."""
    fields = spec.split(",")
    if len(fields) not in (4, 5):
        raise SimError(f"bad time spec {spec!r}")
    times, weekdays, mdays, months = fields[:4]
    local = now.astimezone(ZoneInfo(fields[4])) if len(fields) == 5 and fields[4] else now
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    names = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    def in_ranges(value: int, ranges: str, parse: Callable[[str], int]) -> bool:
        if ranges == "*":
            return True
        for part in ranges.split("&"):
            low, _, high = part.partition("-")
            start, end = parse(low), parse(high or low)
            if (start <= value <= end) if start <= end else (value >= start or value <= end):
                return True
        return False

    def minute(hhmm: str) -> int:
        hours, mins = hhmm.split(":")
        return int(hours) * 60 + int(mins)

    return (
        in_ranges(local.hour * 60 + local.minute, times, minute)
        and in_ranges(local.weekday(), weekdays, days.index)
        and in_ranges(local.day, mdays, int)
        and in_ranges(local.month - 1, months, names.index)
    )


# ------------------------------------------------------------- what the wire looks like

_WIRE = re.compile(r"^\s+A->S (b'.*')$")
_REPLY_NOTE = re.compile(r"### reply to '(?P<cmd>.*)': \[(?P<lines>.*)\] rtt=")


def recorded_header() -> list[str]:
    """The first ``agi_*`` header block of transcript 1a, one line per entry, without '\\n'."""
    lines: list[str] = []
    for raw in WALKTHROUGH.read_text(encoding="utf-8").splitlines():
        match = _WIRE.match(raw)
        if match is None:
            continue
        line = ast.literal_eval(match[1]).decode()
        if line == "\n":
            return lines
        lines.append(line.rstrip("\n"))
    raise SimError("no header block in the 1a transcript")


def recorded_replies() -> dict[str, str]:
    """Reply lines Asterisk gave in 1a, by kind of command."""
    found: dict[str, str] = {}
    for raw in WALKTHROUGH.read_text(encoding="utf-8").splitlines():
        note = _REPLY_NOTE.search(raw)
        if note is None:
            continue
        cmd, reply_lines = note["cmd"], ast.literal_eval(f"[{note['lines']}]")
        if len(reply_lines) != 1:
            continue
        if cmd.startswith("SET VARIABLE "):
            found.setdefault("SET VARIABLE", reply_lines[0])
        elif cmd == "GET VARIABLE IVR_CHOICE":
            found["GET VARIABLE set"] = reply_lines[0]
        elif cmd == "GET VARIABLE NO_SUCH_VAR":
            found["GET VARIABLE unset"] = reply_lines[0]
        elif cmd == "ANSWER":
            found["ANSWER"] = reply_lines[0]
        elif cmd == "FOO BAR":
            found["unknown"] = reply_lines[0]
    return found


def agi_header(
    *,
    script: str,
    request: str,
    context: str,
    extension: str,
    priority: str,
    language: str,
    callerid: str,
    calleridname: str,
    args: list[str],
) -> bytes:
    """The header block as 1a shows it, with this call's values and ``agi_arg_N`` lines."""
    values = {
        "agi_network_script": script,
        "agi_request": request,
        "agi_context": context,
        "agi_extension": extension,
        "agi_priority": priority,
        "agi_language": language,
        "agi_callerid": callerid,
        "agi_calleridname": calleridname,
    }
    out = []
    for line in recorded_header():
        key, _, _ = line.partition(": ")
        if key.startswith("agi_arg_"):
            continue
        out.append(f"{key}: {values[key]}" if key in values else line)
    out += [f"agi_arg_{n}: {arg}" for n, arg in enumerate(args, start=1)]
    return ("\n".join(out) + "\n\n").encode()
