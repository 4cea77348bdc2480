"""``ivr211 simulate``: place a call from the terminal through the real FastAGI server.

This plays Asterisk's part over TCP, with the header and reply forms recorded from
Asterisk 22.10.1 (../shared/asterisk/transcripts/1a, 1b, 5a)::

    ANSWER                      -> 200 result=0
    STREAM FILE 211/x "12"      -> 200 result=0 endpos=<n>, or 200 result=49 endpos=<n> ('1')
    WAIT FOR DIGIT 5000         -> 200 result=53 ('5'), or 200 result=0 (timeout)
    GET DATA 211/x 5000 11      -> 200 result=42 (keys 4 2 #), 200 result= (timeout),
                                   or 200 result=42 (timeout) (keys 4 2, then silence)
    SAY DIGITS 4185550199 ""    -> 200 result=0
    SET VARIABLE / DATABASE PUT -> 200 result=1
    GET VARIABLE X              -> 200 result=1 (<value>) or 200 result=0
    EXEC ...                    -> 200 result=0
    anything else               -> 510 Invalid or unknown command

The caller: ``--caller NUMBER`` shows a number (1a's form, ``agi_callingpres: 0``);
without it the number is withheld, in one of the forms ``--withheld`` names:
``unknown`` (no caller ID at all, as recorded in 5a: ``agi_callerid: unknown``,
``agi_callingpres: 67``), ``anonymous`` (how SIP trunks present a withheld number,
``"Anonymous" <anonymous>``) or ``hidden`` (the ``--caller`` number with a
presentation that forbids showing it, ``agi_callingpres: 32``).

A hang-up ("h") follows 1b: the command in progress answers ``200 result=-1 ...``, the
line ``HANGUP`` comes before the next reply, media commands then answer
``511 Command Not Permitted on a dead channel or intercept routine`` while SET VARIABLE
and DATABASE keep working. (``HANGUP`` on a live channel answers ``200 result=1`` as in
res_agi's source; no recording covers it.)

Exit code: 0 when the flow finished (IVR_FLOW_DONE=1), 1 when it did not, 2 when the
server cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final, TextIO

from ivr.dialplan import ROUTE_INCOMING, VAR_FLOW_DONE, VAR_ROUTE, Route
from ivr.prompts import CATALOGUE, SOUND_DIR

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4573
DEAD: Final = "511 Command Not Permitted on a dead channel or intercept routine"
UNKNOWN: Final = "510 Invalid or unknown command"
MEDIA_COMMANDS: Final = (
    "ANSWER",
    "STREAM FILE",
    "CONTROL STREAM FILE",
    "WAIT FOR DIGIT",
    "GET DATA",
    "GET OPTION",
    "SAY ",
    "RECORD FILE",
    "CHANNEL STATUS",
    "HANGUP",
)
SAMPLES_PER_CHAR: Final = 8000 // 14


def split_args(line: str) -> list[str]:
    """Split a command line as res_agi's ``parse_args`` does: blanks separate words,
    double quotes group them, a backslash takes the next character literally."""
    words: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
            in_word = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(ch)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


WITHHELD_FORMS: Final = ("unknown", "anonymous", "hidden")
PRES_ALLOWED: Final = 0  # 1a
PRES_PROHIBITED: Final = 32  # AST_PRES_RESTRICTED, user number not screened
PRES_UNAVAILABLE: Final = 67  # 5a: no caller ID on the channel


def caller_id(caller: str | None, withheld: str | None) -> tuple[str, str, int]:
    """(agi_callerid, agi_calleridname, agi_callingpres) for a shown or withheld caller."""
    if withheld == "anonymous":
        return "anonymous", "Anonymous", PRES_ALLOWED
    if withheld == "hidden" and caller:
        return caller, "Simulation", PRES_PROHIBITED
    if caller and withheld is None:
        return caller, "Simulation", PRES_ALLOWED
    return "unknown", "unknown", PRES_UNAVAILABLE


def voicemail_callerid(caller: str | None, withheld: str | None) -> str:
    """``callerid=`` of app_voicemail's msgNNNN.txt for the same caller (2e's
    ``"Marie Gagnon" <4185550199>``; ``Unknown`` with neither name nor number).
    app_voicemail writes the number whatever its presentation."""
    number, name, _ = caller_id(caller, withheld)
    if number == "unknown":
        return "Unknown"
    return f'"{name}" <{number}>'


def build_header(
    host: str,
    port: int,
    *,
    caller: str | None,
    language: str,
    args: tuple[str, ...] = (),
    withheld: str | None = None,
) -> list[str]:
    """The ``agi_*`` block in 1a's order, for a Local channel running our route."""
    number, name, presentation = caller_id(caller, withheld)
    now = time.time()
    pid = os.getpid()
    lines = [
        "agi_network: yes",
        f"agi_network_script: {ROUTE_INCOMING}",
        f"agi_request: agi://{host}:{port}/{ROUTE_INCOMING}",
        f"agi_channel: Local/simulate@ivr211-simulate-{pid & 0xFFFFFFFF:08x};1",
        f"agi_language: {language}",
        "agi_type: Local",
        f"agi_uniqueid: {int(now)}.{pid % 1000}",
        "agi_version: 22.10.1",
        f"agi_callerid: {number}",
        f"agi_calleridname: {name}",
        f"agi_callingpres: {presentation}",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: 211",
        "agi_rdnis: unknown",
        "agi_context: ivr211-simulate",
        "agi_extension: 211",
        "agi_priority: 1",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        f"agi_threadid: {pid}",
    ]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, start=1)]
    return lines


class SimulatedAsterisk:
    """Answers the server's commands like Asterisk, asking ``next_key`` for each key.

    ``next_key(prompt)`` returns a DTMF key, ``""`` (no key / timeout) or ``"h"``
    (hang up); for GET DATA, a whole entry such as ``4185550199#``.
    """

    def __init__(self, language: str, next_key: Callable[[str], str], out: TextIO) -> None:
        self.language = language
        self.variables: dict[str, str] = {}
        self.database: dict[tuple[str, str], str] = {}
        self.hung_up = False
        self._hangup_line_due = False
        self._next_key = next_key
        self._out = out

    def reply(self, line: str) -> list[str]:
        lines = ["HANGUP"] if self._hangup_line_due else []
        self._hangup_line_due = False
        return [*lines, self._answer(line)]

    def _hang_up(self) -> None:
        self.hung_up = True
        self._hangup_line_due = True
        print("  (caller hangs up)", file=self._out)

    def _answer(self, line: str) -> str:
        words = split_args(line)
        upper = line.upper()
        if self.hung_up and upper.startswith(MEDIA_COMMANDS):
            return DEAD
        if upper == "ANSWER" or upper == "NOOP":
            return "200 result=0"
        if upper.startswith("STREAM FILE ") and len(words) >= 4:
            return self._stream(words[2], words[3])
        if upper.startswith("WAIT FOR DIGIT ") and len(words) == 4:
            key = self._next_key(f"key (waiting {words[3]} ms)")
            if key == "h":
                self._hang_up()
                return "200 result=-1"
            return f"200 result={ord(key[0]) if key else 0}"
        if upper.startswith("GET DATA ") and len(words) >= 3:
            return self._get_data(words[2], int(words[4]) if len(words) > 4 else 1024)
        if upper.startswith("SAY DIGITS ") and len(words) >= 3:
            print(f"  ▶ (digits, {self.language}) {' '.join(words[2])}", file=self._out)
            return "200 result=0"
        if upper.startswith("SET VARIABLE ") and len(words) == 4:
            self.variables[words[2]] = words[3]
            if words[2] == "CHANNEL(language)":
                self.language = words[3]
            return "200 result=1"
        if upper.startswith("GET VARIABLE ") and len(words) == 3:
            value = self.variables.get(words[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if upper.startswith("DATABASE PUT ") and len(words) == 5:
            self.database[(words[2], words[3])] = words[4]
            return "200 result=1"
        if upper.startswith("DATABASE GET ") and len(words) == 4:
            stored = self.database.get((words[2], words[3]))
            return "200 result=0" if stored is None else f"200 result=1 ({stored})"
        if upper.startswith("DATABASE DEL ") and len(words) == 4:
            return (
                "200 result=1" if self.database.pop((words[2], words[3]), None) else "200 result=0"
            )
        if upper.startswith("VERBOSE "):
            return "200 result=1"
        if upper.startswith("EXEC "):
            return "200 result=0"
        if upper == "HANGUP":
            self.hung_up = True
            return "200 result=1"
        return UNKNOWN

    def _get_data(self, file: str, max_digits: int) -> str:
        self._show(file)
        entry = self._next_key(f"{_ENTRY_PROMPT} then # (at most {max_digits} keys)")
        if entry == "h":
            self._hang_up()
            return "200 result=-1"
        digits, ended, _ = entry.partition("#")
        digits = digits[:max_digits]
        if ended or len(digits) == max_digits:
            return f"200 result={digits}"
        return f"200 result={digits} (timeout)" if digits else "200 result= (timeout)"

    def _show(self, file: str) -> int:
        name = file.removeprefix(f"{SOUND_DIR}/")
        texts = CATALOGUE.get(name, {})
        text = next((t for lang, t in texts.items() if lang == self.language), "")
        shown = text or "(no text in the catalogue for this language)"
        print(f"  ▶ {file} [{self.language}] {shown}", file=self._out)
        return max(len(text), 10) * SAMPLES_PER_CHAR

    def _stream(self, file: str, escape_digits: str) -> str:
        length = self._show(file)
        if not escape_digits:
            return f"200 result=0 endpos={length}"
        key = self._next_key(f"key [{escape_digits}]")
        if key == "h":
            self._hang_up()
            return f"200 result=-1 endpos={length // 2}"
        key = key[:1]
        if key and key in escape_digits:
            return f"200 result={ord(key)} endpos={length // 2}"
        if key:
            print(f"  (key {key} is not accepted during this prompt)", file=self._out)
        return f"200 result=0 endpos={length}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="FastAGI server (default: the config's)")
    parser.add_argument("--port", type=int, default=None, help="FastAGI port")
    parser.add_argument("--caller", default=None, help="caller number (default: withheld)")
    parser.add_argument(
        "--withheld",
        choices=WITHHELD_FORMS,
        default=None,
        help='how a withheld number is presented: "unknown" (no caller ID, the default '
        'without --caller), "anonymous" ("Anonymous" <anonymous>, as SIP trunks send it), '
        '"hidden" (the --caller number, with a presentation that forbids showing it)',
    )
    parser.add_argument(
        "--keys",
        default=None,
        help='scripted keys, comma-separated: a digit, "t" = no key, "h" = hang up; '
        'where a number is asked for, the whole entry (e.g. "4185550199#")',
    )
    parser.add_argument("--entry", default=None, help='entry point, e.g. "queue-exit"')
    parser.add_argument("--language", default=None, help="language for --entry (fr or en)")
    parser.add_argument(
        "--channel-language", default="fr", help="CHANNEL(language) when the call arrives"
    )
    parser.add_argument("--timeout-s", type=float, default=30.0, help="wait for each command")


_KEYS: Final = frozenset("0123456789*#")
_ENTRY_PROMPT: Final = "number"


def _is_entry(text: str) -> bool:
    return bool(text) and all(ch in _KEYS for ch in text)


def _scripted(keys: str) -> Callable[[str], str]:
    queue: Iterator[str] = iter(k.strip() for k in keys.split(",") if k.strip())

    def next_key(_: str) -> str:
        key = next(queue, "t")
        return "" if key == "t" else key

    return next_key


def _interactive(out: TextIO) -> Callable[[str], str]:
    def next_key(prompt: str) -> str:
        while True:
            print(f"  {prompt}, Enter = none, h = hang up: ", end="", file=out, flush=True)
            try:
                answer = input().strip()
            except EOFError:
                return ""
            if answer in ("", "h"):
                return answer
            if prompt.startswith(_ENTRY_PROMPT):
                if _is_entry(answer):
                    return answer
                print("  keys please (0-9, *, #), Enter or h", file=out)
            elif answer in _KEYS:
                return answer
            else:
                print("  one key please (0-9, *, #), Enter or h", file=out)

    return next_key


VoiceMailHook = Callable[[Mapping[str, str], str], None]


def run(args: argparse.Namespace, on_research: VoiceMailHook | None = None) -> int:
    """Place one call. ``on_research(variables, callerid)`` plays the dialplan's
    VoiceMail() when the flow ends on the research route (``ivr211 simulate
    --leave-message`` writes a message into the voicemail spool there); ``callerid`` is
    what app_voicemail would write (``voicemail_callerid``)."""
    out = sys.stdout
    host = getattr(args, "host", None) or DEFAULT_HOST
    port = getattr(args, "port", None) or DEFAULT_PORT
    for key in (args.keys or "").split(","):
        if key.strip() and not (_is_entry(key.strip()) or key.strip() in ("t", "h")):
            print(f"invalid key {key.strip()!r} in --keys", file=sys.stderr)
            return 2
    withheld = getattr(args, "withheld", None)
    if withheld == "hidden" and not args.caller:
        print("--withheld hidden needs --caller (the number the caller hides)", file=sys.stderr)
        return 2
    if withheld in ("unknown", "anonymous") and args.caller:
        print(f"--withheld {withheld} presents no number: leave out --caller", file=sys.stderr)
        return 2
    call_args: tuple[str, ...] = ()
    if args.entry:
        call_args = (args.entry, args.language or "fr")
    fake = SimulatedAsterisk(
        args.channel_language,
        _scripted(args.keys) if args.keys is not None else _interactive(out),
        out,
    )
    try:
        sock = socket.create_connection((host, port), timeout=5.0)
    except OSError as exc:
        print(f"cannot reach the FastAGI server at {host}:{port}: {exc}", file=sys.stderr)
        return 2
    with sock, sock.makefile("rwb") as stream:
        sock.settimeout(args.timeout_s)
        header = build_header(
            host,
            port,
            caller=args.caller,
            language=args.channel_language,
            args=call_args,
            withheld=withheld,
        )
        stream.write(("\n".join(header) + "\n\n").encode())
        stream.flush()
        number, name, presentation = caller_id(args.caller, withheld)
        print(
            f"call to agi://{host}:{port}/{ROUTE_INCOMING} from "
            f'"{name}" <{number}> (presentation {presentation})'
        )
        try:
            while raw := stream.readline():
                command = raw.decode("utf-8", errors="replace").rstrip("\n")
                for line in fake.reply(command):
                    stream.write(f"{line}\n".encode())
                stream.flush()
        except TimeoutError:
            print(f"the server sent nothing for {args.timeout_s:g} s", file=sys.stderr)
        except OSError as exc:
            print(f"connection lost: {exc}", file=sys.stderr)
    route = fake.variables.get(VAR_ROUTE, "(none)")
    print(f"route: {route}")
    for name, value in fake.variables.items():
        print(f"  {name} = {value}")
    done = fake.variables.get(VAR_FLOW_DONE) == "1"
    print("flow finished" if done else "flow did NOT finish (the dialplan would use its fallback)")
    if done and on_research is not None and route == Route.RESEARCH.value:
        on_research(dict(fake.variables), voicemail_callerid(args.caller, withheld))
    return 0 if done else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr211 simulate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
