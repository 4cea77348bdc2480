"""The real FastAGI server on 127.0.0.1 with a fake Asterisk speaking the recorded lines."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest
from agi_fakes import (
    CLOSE,
    CLOSED_NOW,
    DEAD,
    EXIT_ON_HANGUP,
    HANGUP_LINE,
    HUNG_UP_DURING_PROMPT,
    MISSING_PROMPT,
    OPEN_NOW,
    UNKNOWN_COMMAND,
    USAGE,
    FakeAsterisk,
    Responder,
    header_for,
    line_settings,
    recorded_header,
    running_server,
)

from agi_scripts.protocol import quote
from agi_scripts.runner import AstdbMemo, FixedSettings
from agi_scripts.server import ServerOptions, serve
from ivr.mirror import line_mirror
from ivr.settings import DayHours, LineSettings, Override, WeeklyHours

OPEN_FR_PROMPTS = [
    ("211/emergency-notice", "fr"),
    ("211/greeting", "fr"),
    ("211/language-menu", "fr"),
    ("211/main-menu", "fr"),
    ("211/to-navigator", "fr"),
]
# No key during the greeting, 1 during the language menu, 1 during the main menu.
NORMAL_KEYS = ("t", "1", "1")


def mirror_commands(settings: LineSettings, now: datetime) -> list[str]:
    mirror = line_mirror(settings, now)
    return [f"DATABASE PUT ivr211 {k} {quote(v)}" for k, v in sorted(mirror.items())]


async def normal_call(port: int) -> FakeAsterisk:
    """French caller, open line, navigator: the call every bad case is followed by."""
    return await FakeAsterisk(port, keys=list(NORMAL_KEYS)).run()


def assert_navigator_call(fake: FakeAsterisk) -> None:
    assert fake.variables["IVR_ROUTE"] == "queue"
    assert fake.variables["__IVR_PATH"] == "open/lang:fr/main:1"
    assert fake.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"


class CountedSource:
    """A settings source that says which thread read it; ``fresh()`` holds the settings
    in memory when ``held``."""

    def __init__(self, held: bool) -> None:
        self.settings = line_settings()
        self.held = held
        self.read_in: list[str] = []

    def __call__(self) -> LineSettings:
        self.read_in.append(threading.current_thread().name)
        return self.settings

    def fresh(self) -> LineSettings | None:
        return self.settings if self.held else None


@pytest.mark.parametrize("held", [True, False])
def test_settings_held_fresh_are_used_without_a_thread_and_others_are_read_in_one(
    held: bool,
) -> None:
    source = CountedSource(held)

    async def scenario() -> FakeAsterisk:
        async with running_server(source) as opts:
            return await normal_call(opts.port)

    assert_navigator_call(asyncio.run(scenario()))
    if held:
        assert source.read_in == []
    else:
        assert len(source.read_in) == 1
        assert source.read_in[0] != threading.main_thread().name


def test_open_line_french_caller_reaches_the_navigators() -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await normal_call(opts.port)

    fake = asyncio.run(scenario())
    settings = line_settings()
    assert fake.commands[:2] == ["ANSWER", 'SET VARIABLE IVR_FLOW_DONE ""']
    expected_mirror = mirror_commands(settings, OPEN_NOW)
    assert fake.commands[2 : 2 + len(expected_mirror)] == expected_mirror
    # the transfer codes' numbers ride along with the line state
    assert "DATABASE PUT ivr211 dest_811 811" in expected_mirror
    assert 'DATABASE PUT ivr211 override ""' in expected_mirror
    assert fake.prompts == OPEN_FR_PROMPTS
    # only the emergency notice plays without keys; the greeting takes the menu's keys
    assert [c for c in fake.commands if c.startswith("STREAM FILE")] == [
        'STREAM FILE 211/emergency-notice ""',
        'STREAM FILE 211/greeting "123"',
        'STREAM FILE 211/language-menu "123"',
        'STREAM FILE 211/main-menu "12"',
        'STREAM FILE 211/to-navigator ""',
    ]
    closes_at = int(OPEN_NOW.replace(hour=19).timestamp())  # Wednesday closing time
    assert fake.commands[-12:] == [
        "SET VARIABLE IVR_ROUTE queue",
        "SET VARIABLE __IVR_LANG fr",
        "SET VARIABLE __IVR_PATH open/lang:fr/main:1",
        "SET VARIABLE __IVR_INTERPRETER 0",
        'SET VARIABLE IVR_DEST ""',
        'SET VARIABLE IVR_DEST_NUMBER ""',
        "SET VARIABLE IVR_QUEUE navigateurs",
        'SET VARIABLE IVR_MAILBOX ""',
        "SET VARIABLE IVR_LINE_STATE hours",
        f"SET VARIABLE IVR_CLOSES_AT {closes_at}",
        'SET VARIABLE IVR_CALLBACK ""',
        "SET VARIABLE IVR_FLOW_DONE 1",
    ]
    assert fake.variables["CHANNEL(language)"] == "fr"
    assert fake.count("WAIT FOR DIGIT") == 0
    assert fake.database[("ivr211", "override")] == ""


def test_open_line_english_caller_reaches_the_research_box() -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            # 2 during "For service in English, press 2", then through the notice in
            # English, 2 during the main menu
            keys = ["t", "t", "2", "t", "2"]
            return await FakeAsterisk(opts.port, keys=keys).run()

    fake = asyncio.run(scenario())
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["__IVR_LANG"] == "en"
    assert fake.variables["CHANNEL(language)"] == "en"
    assert fake.variables["IVR_MAILBOX"] == "1000@recherche"
    assert fake.variables["__IVR_PATH"] == "open/lang:en/main:2"
    # the caller's number is known (1a's header): the consent notice, no callback request
    assert fake.prompts[-6:] == [
        ("211/language-menu", "en"),
        ("211/emergency-notice", "en"),
        ("211/main-menu", "en"),
        ("211/research-intro", "en"),
        ("211/consent-notice", "en"),
        ("211/research-record", "en"),
    ]
    assert fake.count("GET DATA") == 0
    assert fake.variables["IVR_CALLBACK"] == ""
    assert fake.variables["IVR_FLOW_DONE"] == "1"


def test_silence_waits_for_a_digit_after_the_prompts() -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await FakeAsterisk(opts.port, keys=["t", "t", "t", "1", "1"]).run()

    fake = asyncio.run(scenario())
    assert 'STREAM FILE 211/language-menu "123"' in fake.commands
    assert "WAIT FOR DIGIT 5000" in fake.commands
    assert fake.variables["__IVR_PATH"] == "open/lang:fr/main:1"
    assert fake.variables["IVR_ROUTE"] == "queue"


def test_closed_line_caller_is_transferred_to_811() -> None:
    """A caller who knows the keys presses 1 during the greeting: no need to sit through
    the closed message, the hours and the emergency numbers."""

    async def scenario() -> FakeAsterisk:
        async with running_server(now=CLOSED_NOW) as opts:
            return await FakeAsterisk(
                opts.port, keys=["1"], header=header_for(callerid="unknown")
            ).run()

    fake = asyncio.run(scenario())
    assert [c for c in fake.commands if c.startswith("STREAM FILE")] == [
        'STREAM FILE 211/emergency-notice ""',
        'STREAM FILE 211/greeting "1239"',
        'STREAM FILE 211/transferring ""',
    ]
    assert fake.variables["IVR_ROUTE"] == "transfer"
    assert fake.variables["IVR_DEST"] == "811"
    assert fake.variables["IVR_DEST_NUMBER"] == "811"
    assert fake.variables["IVR_LINE_STATE"] == "after_hours"
    assert fake.variables["__IVR_PATH"] == "closed:after_hours/menu:1/transfer:811"
    assert fake.commands[-1] == "SET VARIABLE IVR_FLOW_DONE 1"


def domain_default_hours(settings: LineSettings) -> LineSettings:
    """DOMAIN.md's hours: 08:00-19:00 every day, holidays included."""
    day = DayHours(time(8), time(19))
    weekly = WeeklyHours(dict.fromkeys(range(7), day), day)
    return replace(settings, schedule=replace(settings.schedule, weekly=weekly))


def test_closed_line_says_the_hours_of_the_settings_piece_by_piece() -> None:
    """Every prompt after the emergency notice takes the menu's keys; the hours are the
    settings', said with one STREAM FILE per piece (no SAY NUMBER / SAY TIME)."""

    async def scenario() -> FakeAsterisk:
        source = lambda: domain_default_hours(line_settings())  # noqa: E731
        async with running_server(source, now=CLOSED_NOW) as opts:
            # no key until the closed menu itself, then 1 (Info-Santé)
            return await FakeAsterisk(opts.port, keys=["t"] * 10 + ["1"]).run()

    fake = asyncio.run(scenario())
    keys = '"1239"'
    assert [c for c in fake.commands if c.startswith("STREAM FILE")] == [
        'STREAM FILE 211/emergency-notice ""',
        f"STREAM FILE 211/greeting {keys}",
        f"STREAM FILE 211/closed-hours {keys}",
        f"STREAM FILE 211/for-english {keys}",
        f"STREAM FILE 211/hours-open {keys}",
        f"STREAM FILE 211/days-every-holidays {keys}",
        f"STREAM FILE 211/time-from {keys}",
        f"STREAM FILE 211/hour-8 {keys}",
        f"STREAM FILE 211/time-to {keys}",
        f"STREAM FILE 211/hour-19 {keys}",
        f"STREAM FILE 211/emergency-numbers {keys}",
        f"STREAM FILE 211/closed-menu {keys}",
        'STREAM FILE 211/transferring ""',
    ]
    assert ("211/for-english", "en") in fake.prompts and ("211/hour-8", "fr") in fake.prompts
    assert fake.count("SAY ") == 0
    assert fake.variables["__IVR_PATH"] == "closed:after_hours/menu:1/transfer:811"


def test_queue_exit_entry_starts_in_the_given_language() -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            header = header_for(args=("queue-exit", "en"), language="en")
            return await FakeAsterisk(opts.port, keys=["3"], header=header).run()

    fake = asyncio.run(scenario())
    assert fake.prompts[0] == ("211/queue-unavailable", "en")
    assert "SET VARIABLE CHANNEL(language) fr" not in fake.commands
    assert fake.variables["IVR_ROUTE"] == "research"
    assert fake.variables["__IVR_PATH"].startswith("queue-exit/")


def test_walkthrough_header_with_its_three_arguments_is_served() -> None:
    header = header_for(args=("first arg", "second", "1795878346.967507"))
    assert [h for h in recorded_header() if h.startswith(b"agi_arg")] == [
        h for h in header if h.startswith(b"agi_arg")
    ]

    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await FakeAsterisk(opts.port, keys=["1", "1"], header=header).run()

    assert_navigator_call(asyncio.run(scenario()))


def test_astdb_is_written_once_per_process_and_again_only_when_it_changes() -> None:
    calls = [0]
    base = line_settings()
    forced = replace(
        base,
        schedule=replace(base.schedule, override=Override("closed", OPEN_NOW + timedelta(hours=2))),
    )

    def source() -> LineSettings:
        calls[0] += 1
        return base if calls[0] < 3 else forced

    async def scenario() -> list[FakeAsterisk]:
        async with running_server(source) as opts:
            return [await normal_call(opts.port) for _ in range(3)]

    first, second, third = asyncio.run(scenario())
    assert first.count("DATABASE PUT") == len(line_mirror(base, OPEN_NOW))
    assert second.count("DATABASE PUT") == 0
    assert [c for c in third.commands if c.startswith("DATABASE PUT")] == [
        "DATABASE PUT ivr211 override closed",
        f"DATABASE PUT ivr211 override_until {int((OPEN_NOW + timedelta(hours=2)).timestamp())}",
    ]
    assert third.variables["IVR_LINE_STATE"] == "override_closed"


def test_astdb_mirror_is_reused_until_it_may_change() -> None:
    """One mirror per settings and span: past the override's end, or for other
    settings, it is computed again and equals ``line_mirror`` there."""
    base = line_settings()
    until = OPEN_NOW + timedelta(hours=2)
    forced = replace(base, schedule=replace(base.schedule, override=Override("closed", until)))
    memo = AstdbMemo()
    first = memo.mirror(forced, OPEN_NOW)
    assert first == line_mirror(forced, OPEN_NOW)
    assert memo.mirror(forced, until - timedelta(seconds=1)) is first
    after = memo.mirror(forced, until)
    assert after == line_mirror(forced, until)
    assert after["override"] == "" != first["override"]
    assert memo.mirror(base, until) == line_mirror(base, until)
    assert memo.mirror(forced, OPEN_NOW - timedelta(seconds=1)) == line_mirror(
        forced, OPEN_NOW - timedelta(seconds=1)
    )
    pending = memo.changed(first)
    assert len(pending) == len(first)
    for key, value in pending[:-1]:
        memo.record(key, value)
    assert memo.changed(first) == [pending[-1]]
    memo.record(*pending[-1])
    assert memo.changed(first) == []
    assert memo.changed(after) == [("override", ""), ("override_until", "")]


# ---- bad input: each case, then a normal call on the same server ------------------


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, then read until the server closes (or resets the connection,
    which it does when it closes with our bytes unread); return what it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(data)
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


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http-request"),
        pytest.param(b"agi_network: yes\nnot a header line\n\n", id="garbage-line"),
        pytest.param(b"agi_x: " + b"y" * 300 + b"\n" + b"agi_z: 1\n" * 2000, id="endless-header"),
        pytest.param(b"".join(recorded_header()[:10]), id="header-never-ends"),
        pytest.param(b"\n", id="empty-header"),
        pytest.param(b"", id="nothing"),
    ],
)
def test_bad_headers_are_closed_without_a_command(data: bytes) -> None:
    async def scenario() -> tuple[bytes, FakeAsterisk]:
        async with running_server(header_timeout_s=0.3) as opts:
            sent = await raw_exchange(opts.port, data)
            return sent, await normal_call(opts.port)

    sent, after = asyncio.run(scenario())
    assert sent == b""
    assert_navigator_call(after)


def test_unknown_route_is_logged_and_closed_like_1k(caplog: pytest.LogCaptureFixture) -> None:
    header = recorded_header("1k-unknown-script.wire.txt")
    assert b"agi_network_script: no-such-route\n" in header

    async def scenario() -> tuple[bytes, FakeAsterisk]:
        async with running_server() as opts:
            sent = await raw_exchange(opts.port, b"".join(header))
            return sent, await normal_call(opts.port)

    with caplog.at_level(logging.INFO, logger="agi_scripts.server"):
        sent, after = asyncio.run(scenario())
    assert sent == b""
    assert any("no FastAGI route 'no-such-route'" in r.getMessage() for r in caplog.records)
    assert_navigator_call(after)


def _reply_at(prefix: str, lines: list[bytes], nth: int = 1) -> Responder:
    seen = [0]

    def override(fake: FakeAsterisk, command: str) -> list[bytes] | None:
        if command.startswith(prefix):
            seen[0] += 1
            if seen[0] == nth:
                return lines
        return None

    return override


@pytest.mark.parametrize(
    ("reply", "name"), [(UNKNOWN_COMMAND, "510"), (USAGE, "520")], ids=["510", "520"]
)
def test_refused_command_ends_the_call_without_flow_done(
    reply: list[bytes], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with running_server() as opts:
            bad = await FakeAsterisk(
                opts.port, keys=["1", "1"], override=_reply_at("STREAM FILE", reply, 2)
            ).run()
            return bad, await normal_call(opts.port)

    with caplog.at_level(logging.ERROR, logger="agi_scripts.server"):
        bad, after = asyncio.run(scenario())
    assert bad.count("STREAM FILE") == 2
    assert bad.variables.get("IVR_FLOW_DONE") == ""
    assert "IVR_ROUTE" not in bad.variables
    assert any(name in r.getMessage() for r in caplog.records)
    assert_navigator_call(after)


def test_missing_prompt_on_a_live_channel_does_not_end_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await FakeAsterisk(
                opts.port,
                keys=list(NORMAL_KEYS),
                override=_reply_at("STREAM FILE", MISSING_PROMPT, 1),
            ).run()

    with caplog.at_level(logging.WARNING, logger="agi_scripts.channel"):
        fake = asyncio.run(scenario())
    assert_navigator_call(fake)
    assert fake.count("STREAM FILE") == 5
    assert any("211/emergency-notice is missing" in r.getMessage() for r in caplog.records)


def _hangup_at(nth: int, style: str) -> Responder:
    """The caller hangs up during the nth STREAM FILE, as recorded: 1b (``200 result=-1
    endpos=16160``, then ``HANGUP`` before the next reply, then 511 for media), 1c (the
    same without the ``HANGUP`` line) or 1d (``-1``, ``HANGUP``, ``HANGUP``, socket closed)."""
    seen = [0]

    def override(fake: FakeAsterisk, command: str) -> list[bytes] | None:
        if fake.hung_up:
            if style == "1b" and not fake.hangup_line_sent:
                fake.hangup_line_sent = True
                return [HANGUP_LINE, *fake.default_reply(command)]
            return None
        if command.startswith("STREAM FILE"):
            seen[0] += 1
            if seen[0] == nth:
                fake.hung_up = True
                return [*EXIT_ON_HANGUP, CLOSE] if style == "1d" else HUNG_UP_DURING_PROMPT
        return None

    return override


@pytest.mark.parametrize("style", ["1b", "1c", "1d"])
@pytest.mark.parametrize("nth", range(1, len(OPEN_FR_PROMPTS) + 1))
def test_caller_hangs_up_during_each_prompt(nth: int, style: str) -> None:
    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with running_server() as opts:
            fake = FakeAsterisk(opts.port, keys=list(NORMAL_KEYS), override=_hangup_at(nth, style))
            return await fake.run(), await normal_call(opts.port)

    bad, after = asyncio.run(scenario())
    assert bad.count("STREAM FILE") == nth
    assert "SET VARIABLE IVR_FLOW_DONE 1" not in bad.commands
    if style == "1d":
        assert bad.closed_by_us
        assert "IVR_ROUTE" not in bad.variables
    else:
        stream_at = max(i for i, c in enumerate(bad.commands) if c.startswith("STREAM FILE"))
        expected_path = "/".join(["open", "lang:fr", "main:1"][: 1 + (nth > 3) + (nth > 4)])
        assert bad.commands[stream_at + 1 :] == [
            "CHANNEL STATUS",
            f"SET VARIABLE __IVR_PATH {expected_path}/hangup",
            "SET VARIABLE IVR_ROUTE hangup",
        ]
    assert_navigator_call(after)


def test_asterisk_closing_the_socket_mid_command() -> None:
    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with running_server() as opts:
            bad = await FakeAsterisk(
                opts.port, keys=["1", "1"], override=_reply_at("STREAM FILE", [], 3)
            ).run()
            return bad, await normal_call(opts.port)

    bad, after = asyncio.run(scenario())
    assert bad.closed_by_us
    assert bad.count("STREAM FILE") == 3
    assert_navigator_call(after)


def test_dead_channel_511_for_the_first_prompt() -> None:
    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await FakeAsterisk(opts.port, override=_reply_at("STREAM FILE", DEAD, 1)).run()

    fake = asyncio.run(scenario())
    assert fake.commands[-2:] == [
        "SET VARIABLE __IVR_PATH open/hangup",
        "SET VARIABLE IVR_ROUTE hangup",
    ]


def test_a_crashing_handler_is_logged_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = [0]

    def flaky() -> LineSettings:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("database unreachable")
        return line_settings()

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with running_server(flaky) as opts:
            return await normal_call(opts.port), await normal_call(opts.port)

    with caplog.at_level(logging.ERROR, logger="agi_scripts.server"):
        bad, after = asyncio.run(scenario())
    assert bad.commands == ["ANSWER", 'SET VARIABLE IVR_FLOW_DONE ""']
    crash = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert crash and crash[0].exc_info is not None
    assert_navigator_call(after)


def test_connections_beyond_max_connections_are_closed_at_once() -> None:
    async def scenario() -> tuple[bytes, FakeAsterisk]:
        async with running_server(max_connections=1, header_timeout_s=5) as opts:
            _reader, writer = await asyncio.open_connection("127.0.0.1", opts.port)
            writer.write(recorded_header()[0])
            await writer.drain()
            try:
                refused = await raw_exchange(opts.port, b"".join(header_for()))
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            return refused, await normal_call(opts.port)

    refused, after = asyncio.run(scenario())
    assert refused == b""
    assert_navigator_call(after)


def test_hangup_during_the_final_variables_records_hangup_not_done() -> None:
    def override(fake: FakeAsterisk, command: str) -> list[bytes] | None:
        if command == "SET VARIABLE IVR_QUEUE navigateurs":
            fake.hung_up = True
            return [HANGUP_LINE, *fake.default_reply(command)]
        return None

    async def scenario() -> FakeAsterisk:
        async with running_server() as opts:
            return await FakeAsterisk(opts.port, keys=["1", "1"], override=override).run()

    fake = asyncio.run(scenario())
    assert fake.variables["IVR_ROUTE"] == "hangup"
    assert fake.variables["__IVR_PATH"] == "open/lang:fr/main:1/hangup"
    assert "SET VARIABLE IVR_FLOW_DONE 1" not in fake.commands


@pytest.mark.parametrize("freeze", [True, False])
def test_the_service_freezes_what_start_up_made_and_tests_do_not(freeze: bool) -> None:
    async def frozen_once_listening() -> int:
        opts = ServerOptions(host="127.0.0.1", port=0)
        started = asyncio.Event()
        task = asyncio.create_task(
            serve(opts, FixedSettings(line_settings()), started=started, freeze_gc=freeze)
        )
        await asyncio.wait_for(started.wait(), 10)
        count = gc.get_freeze_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return count

    gc.unfreeze()
    try:
        count = asyncio.run(frozen_once_listening())
    finally:
        gc.unfreeze()
    assert (count > 0) is freeze
