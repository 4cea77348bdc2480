"""The dialplan on its own: FastAGI down or broken, the line's values, every route.

Each call runs asterisk_conf/extensions.conf in dialplan_sim, whose AGI() connects
over real TCP to a stand-in FastAGI server started here (or to a refused port, as
in transcript 1g), the same way Asterisk does. The line's values reach the dialplan
twice (ivr.mirror.line_mirror): as AstDB keys written by the FastAGI server, and as
IVR211_* globals pushed by the listener (Setvar GLOBAL(...), 2r).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

import pytest

from ivr.dialplan import ASTDB_FAMILY, global_name, parse_vm_category, vm_category
from ivr.mirror import line_mirror
from ivr.schedule import compute_state
from ivr.settings import (
    Closure,
    DayHours,
    Destination,
    HolidayRules,
    LineSettings,
    Override,
    Schedule,
    WeeklyHours,
)

from .dialplan_sim import Call, Dialplan

TZ = ZoneInfo("America/Toronto")
WEDNESDAY_10H = datetime(2025, 6, 11, 10, 0, tzinfo=TZ)
WEDNESDAY_20H = datetime(2025, 6, 11, 20, 0, tzinfo=TZ)
FETE_NATIONALE = "2025-06-24"  # a Tuesday
QUEUE = "Queue"
# Queue options: t = the navigator may transfer, b() = its leg gets the referral key.
QUEUE_OPTIONS = "tb(ivr211-navigator-leg^s^1)"
FALLBACK_CLOSED = "211/fallback-closed"
# What the fallback says first, before anything is decided: short, French then English.
NOTICE = ["fr/211/fallback-notice", "en/211/fallback-notice"]
CLOSED = [*NOTICE, "fr/211/fallback-closed", "en/211/fallback-closed"]
# The caller channel's linkedid (CHANNEL(linkedid)), passed to every AGI() as agi_arg_3.
LINKEDID = Call.linkedid

Script = Callable[[socket.socket, BinaryIO, "FlowServer"], None]


def epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


class FlowServer:
    """A stand-in for the FastAGI server: one script per accepted connection, in order.

    It records each header block and each reply line it got; the tests assert on
    them. Once its scripts are used up it stops listening, so a further AGI() is
    refused (AGISTATUS=FAILURE), like a server that went down.
    """

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.headers: list[list[str]] = []
        self.replies: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"agi://127.0.0.1:{self.port}"

    def __enter__(self) -> FlowServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.listener.close()

    def _accept(self) -> socket.socket | None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            return conn
        return None

    def _serve(self) -> None:
        for index, script in enumerate(self.scripts):
            conn = self._accept()
            if conn is None:
                return
            if index == len(self.scripts) - 1:
                self.listener.close()  # before the last call ends: the next AGI() is refused
            with conn, conn.makefile("rb") as reader:
                header = []
                for raw in reader:
                    line = raw.decode().rstrip("\n")
                    if not line:
                        break
                    header.append(line)
                self.headers.append(header)
                script(conn, reader, self)

    def command(self, conn: socket.socket, reader: BinaryIO, line: str) -> None:
        conn.sendall(line.encode() + b"\n")
        self.replies.append(reader.readline().decode().rstrip("\n"))


def close_after_header(conn: socket.socket, reader: BinaryIO, server: FlowServer) -> None:
    """1i: read the header block, send nothing, close."""


def dies_mid_flow(conn: socket.socket, reader: BinaryIO, server: FlowServer) -> None:
    """1f-like: the flow answers, sets the language, then the server goes away."""
    server.command(conn, reader, "ANSWER")
    server.command(conn, reader, "SET VARIABLE __IVR_LANG en")


def finishes(**variables: str) -> Script:
    """A flow that decides: sets the variables, then IVR_FLOW_DONE=1, and closes."""

    def script(conn: socket.socket, reader: BinaryIO, server: FlowServer) -> None:
        for name, value in variables.items():
            server.command(conn, reader, f'SET VARIABLE {name} "{value}"')
        server.command(conn, reader, "SET VARIABLE IVR_FLOW_DONE 1")

    return script


@pytest.fixture
def refused_url() -> str:
    """A port nothing listens on (1g: connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"agi://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def dialplan() -> Dialplan:
    return Dialplan.load()


def call(
    dialplan: Dialplan,
    fastagi: str,
    now: datetime = WEDNESDAY_10H,
    astdb: dict[str, str] | None = None,
    queue: list[str] | None = None,
    dial: list[str] | None = None,
    exten: str = "211",
    context: str = "from-trunk-211",
    voicemail: list[str] | None = None,
    pushed: dict[str, str] | None = None,
) -> Call:
    return Call(
        dialplan,
        now=now,
        astdb=astdb or {},
        queue_outcomes=queue if queue is not None else ["CONNECTED"],
        dial_outcomes=dial or [],
        voicemail_outcomes=voicemail or [],
        global_overrides={"FASTAGI": fastagi},
        pushed_globals=pushed or {},
    ).run(context, exten)


@pytest.fixture
def flow(request: pytest.FixtureRequest) -> Iterator[FlowServer]:
    with FlowServer(request.param) as server:
        yield server


# ----------------------------------------------------------------- FastAGI failures


def test_server_down_open_hours_reaches_the_queue_after_a_short_bilingual_notice(
    dialplan: Dialplan, refused_url: str
) -> None:
    result = call(dialplan, refused_url)
    assert result.variables["AGISTATUS"] == "FAILURE"
    assert result.heard() == NOTICE
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]
    assert result.language == "fr"


def test_server_down_after_hours_plays_the_emergency_numbers_in_both_languages_and_hangs_up(
    dialplan: Dialplan, refused_url: str
) -> None:
    result = call(dialplan, refused_url, now=WEDNESDAY_20H)
    assert result.apps(QUEUE) == []
    assert result.heard() == CLOSED
    assert result.ended_by == "Hangup()"


@pytest.mark.parametrize("flow", [[dies_mid_flow]], indirect=True)
def test_flow_dying_mid_call_is_success_without_flow_done_and_reaches_the_queue(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url)
    assert result.variables["AGISTATUS"] == "SUCCESS"
    assert "IVR_FLOW_DONE" not in result.variables or result.variables["IVR_FLOW_DONE"] == ""
    assert result.variables["IVR_LANG"] == "en"
    assert flow.replies == ["200 result=0", "200 result=1"]
    assert "agi_network_script: incoming" in flow.headers[0]
    assert result.heard() == NOTICE
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]


@pytest.mark.parametrize("flow", [[close_after_header]], indirect=True)
def test_server_closing_after_the_header_reaches_the_queue(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url)
    assert result.variables["AGISTATUS"] == "SUCCESS"
    assert len(flow.headers) == 1
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]


@pytest.mark.parametrize(
    ("minutes_left", "wait"),
    [(120, "600"), (5, "300"), (0.5, "60"), (-1, "60")],
)
def test_queue_wait_ends_at_closing_time_but_gives_a_last_minute_caller_a_chance(
    dialplan: Dialplan, minutes_left: float, wait: str
) -> None:
    closes_at = epoch(WEDNESDAY_10H + timedelta(minutes=minutes_left))
    with FlowServer([finishes(IVR_ROUTE="queue", IVR_CLOSES_AT=closes_at)]) as server:
        result = call(dialplan, server.url, now=WEDNESDAY_10H)
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,{wait}"]


# ------------------------------------------------------------- AstDB line-state mirror


@pytest.mark.parametrize(
    ("now", "astdb", "queued"),
    [
        pytest.param(
            WEDNESDAY_10H,
            {"ivr211/override": "closed", "ivr211/override_until": ""},
            False,
            id="override-closed-until-lifted",
        ),
        pytest.param(
            WEDNESDAY_10H,
            {"ivr211/override": "closed", "ivr211/override_until": epoch(WEDNESDAY_20H)},
            False,
            id="override-closed-until-tonight",
        ),
        pytest.param(
            WEDNESDAY_20H,
            {"ivr211/override": "closed", "ivr211/override_until": epoch(WEDNESDAY_10H)},
            False,
            id="override-closed-expired-after-hours",
        ),
        pytest.param(
            WEDNESDAY_10H,
            {"ivr211/override": "closed", "ivr211/override_until": epoch(WEDNESDAY_10H)},
            True,
            id="override-closed-expired-in-hours",
        ),
        pytest.param(WEDNESDAY_20H, {"ivr211/override": "open"}, True, id="override-open"),
        pytest.param(
            WEDNESDAY_10H,
            {
                "ivr211/closure_start": epoch(datetime(2025, 6, 11, 9, 0, tzinfo=TZ)),
                "ivr211/closure_end": epoch(datetime(2025, 6, 11, 12, 0, tzinfo=TZ)),
            },
            False,
            id="closure-now",
        ),
        pytest.param(
            WEDNESDAY_10H,
            {
                "ivr211/closure_start": epoch(datetime(2025, 6, 12, 9, 0, tzinfo=TZ)),
                "ivr211/closure_end": epoch(datetime(2025, 6, 12, 12, 0, tzinfo=TZ)),
            },
            True,
            id="closure-tomorrow",
        ),
        pytest.param(
            datetime(2025, 6, 24, 16, 0, tzinfo=TZ),
            {
                "ivr211/holidays": f"2025-01-01,{FETE_NATIONALE},2025-07-01",
                "ivr211/hours_HOLIDAY": "08:00-15:29",
            },
            False,
            id="holiday-after-holiday-hours",
        ),
        pytest.param(
            datetime(2025, 6, 24, 15, 29, tzinfo=TZ),
            {
                "ivr211/holidays": f"2025-01-01,{FETE_NATIONALE},2025-07-01",
                "ivr211/hours_HOLIDAY": "08:00-15:29",
            },
            True,
            id="holiday-within-holiday-hours",
        ),
        pytest.param(
            datetime(2025, 6, 24, 10, 0, tzinfo=TZ),
            {
                "ivr211/holidays": f"2025-01-01,{FETE_NATIONALE},2025-07-01",
                "ivr211/hours_HOLIDAY": "closed",
                "ivr211/hours_2": "08:00-18:59",
            },
            False,
            id="holiday-closed-all-day",
        ),
        pytest.param(
            datetime(2025, 6, 17, 16, 0, tzinfo=TZ),
            {
                "ivr211/holidays": f"2025-01-01,{FETE_NATIONALE},2025-07-01",
                "ivr211/hours_HOLIDAY": "08:00-15:29",
            },
            True,
            id="ordinary-tuesday-16h",
        ),
        pytest.param(
            WEDNESDAY_10H, {"ivr211/hours_3": "closed"}, False, id="wednesday-closed-all-day"
        ),
        pytest.param(
            WEDNESDAY_10H, {"ivr211/hours_4": "closed"}, True, id="thursday-closed-not-today"
        ),
        pytest.param(
            datetime(2025, 6, 14, 15, 30, tzinfo=TZ),
            {"ivr211/hours_6": "08:00-15:29"},
            False,
            id="saturday-short-day-15h30",
        ),
        pytest.param(
            datetime(2025, 6, 15, 9, 0, tzinfo=TZ),
            {"ivr211/hours_7": "09:30-11:59"},
            False,
            id="sunday-9h-before-opening",
        ),
        pytest.param(datetime(2025, 6, 11, 18, 59, tzinfo=TZ), {}, True, id="default-18h59"),
        pytest.param(datetime(2025, 6, 11, 19, 0, tzinfo=TZ), {}, False, id="default-19h00"),
        pytest.param(datetime(2025, 6, 11, 7, 59, tzinfo=TZ), {}, False, id="default-7h59"),
        pytest.param(datetime(2025, 6, 15, 18, 59, tzinfo=TZ), {}, True, id="default-sunday-18h59"),
        pytest.param(
            datetime(2025, 6, 24, 18, 0, tzinfo=TZ),
            {"ivr211/holidays": FETE_NATIONALE},
            True,
            id="default-holiday-18h",
        ),
    ],
)
def test_fallback_open_or_closed_from_astdb_and_default_hours(
    dialplan: Dialplan, refused_url: str, now: datetime, astdb: dict[str, str], queued: bool
) -> None:
    result = call(dialplan, refused_url, now=now, astdb=astdb)
    if queued:
        assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]
        assert result.heard() == NOTICE
    else:
        assert result.apps(QUEUE) == []
        assert result.heard() == CLOSED
        assert result.ended_by == "Hangup()"


# ----------------------------------------- the listener's globals and the AstDB mirror


def line_settings(**schedule_changes: object) -> LineSettings:
    """A line whose days all differ, so a wrong day or a wrong source shows."""
    weekly = WeeklyHours(
        days={
            0: DayHours(time(8, 0), time(19, 0)),
            1: DayHours(time(8, 0), time(19, 0)),
            2: DayHours(time(9, 0), time(17, 0)),  # Wednesday
            3: DayHours(time(8, 0), time(19, 0)),
            4: DayHours(time(8, 0), time(16, 0)),
            5: DayHours(time(10, 0), time(14, 0)),  # Saturday
            6: None,  # Sunday: closed all day
        },
        holiday=DayHours(time(12, 0), time(15, 30)),
    )
    schedule = Schedule("America/Toronto", weekly, HolidayRules())
    return LineSettings(
        schedule=replace(schedule, **schedule_changes),  # type: ignore[arg-type]
        destinations=(
            Destination("811", "811", "811", "emergency", "811", {"*": "18005550811"}),
            Destination("crise", "Crise", "Crisis", "emergency", "101", {}),
        ),
        territory="capitale-nationale",
        version=7,
    )


def as_globals(settings: LineSettings, now: datetime) -> dict[str, str]:
    """What the listener pushes: every value of line_mirror as its IVR211_* global."""
    return {global_name(k): v for k, v in line_mirror(settings, now).items()}


def as_astdb(settings: LineSettings, now: datetime) -> dict[str, str]:
    """What the FastAGI server writes: every value of line_mirror under ivr211/."""
    return {f"{ASTDB_FAMILY}/{k}": v for k, v in line_mirror(settings, now).items()}


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


INSTANTS = [
    at(2025, 6, 11, 8, 59),  # Wednesday before its late opening
    at(2025, 6, 11, 9, 0),
    at(2025, 6, 11, 16, 59),
    at(2025, 6, 11, 17, 0),
    at(2025, 6, 13, 15, 59),  # Friday, closes at 16:00
    at(2025, 6, 13, 16, 0),
    at(2025, 6, 14, 9, 59),  # Saturday 10:00-14:00
    at(2025, 6, 14, 13, 59),
    at(2025, 6, 14, 14, 0),
    at(2025, 6, 15, 12, 0),  # Sunday, closed all day
    at(2025, 6, 24, 11, 59),  # Fête nationale (Tuesday): holiday hours 12:00-15:30
    at(2025, 6, 24, 12, 0),
    at(2025, 6, 24, 15, 29),
    at(2025, 6, 24, 15, 30),
    at(2025, 11, 2, 12, 0),  # the Sunday daylight saving time ends
    at(2025, 3, 10, 18, 59),  # the Monday after it began
]
SWITCHES = {
    "plain": {},
    "override-open": {"override": Override("open", reason="nuit")},
    "override-closed-until": {
        "override": Override("closed", until=at(2025, 12, 31, 23), reason="jour")
    },
    "closure": {"closures": (Closure(at(2025, 6, 11, 9, 30), at(2025, 6, 13, 15, 30), "tempête"),)},
}


@pytest.mark.parametrize("where", ["pushed", "astdb"])
@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_fallback_decides_like_the_flow_from_the_values_either_writer_left(
    dialplan: Dialplan, refused_url: str, where: str, switch: str
) -> None:
    """The same line_mirror values, read from the listener's globals or from AstDB,
    open and close the line at the instants compute_state does."""
    settings = line_settings(**SWITCHES[switch])
    for now in INSTANTS:
        values = {"pushed": as_globals, "astdb": as_astdb}[where](settings, now)
        result = call(
            dialplan,
            refused_url,
            now=now,
            pushed=values if where == "pushed" else None,
            astdb=values if where == "astdb" else None,
        )
        expected = compute_state(settings.schedule, now).is_open
        assert (result.apps(QUEUE) != []) == expected, (now.isoformat(), switch)


@pytest.mark.parametrize(
    ("pushed_version", "stored_version", "source"),
    [
        ("8", "7", "globals"),  # the listener pushed a change the FastAGI server did not see
        ("7", "7", "globals"),
        ("7", "8", "astdb"),  # the listener is down; a call wrote the newer settings
        ("7", "", "globals"),  # AstDB written before versions were mirrored
        ("", "7", "astdb"),  # Asterisk restarted, the listener has not pushed yet
        ("", "", "astdb"),
    ],
)
def test_fallback_reads_the_more_recent_copy_of_the_hours(
    dialplan: Dialplan, refused_url: str, pushed_version: str, stored_version: str, source: str
) -> None:
    pushed = {"IVR211_HOURS_3": "closed"}
    astdb = {"ivr211/hours_3": "08:00-18:59"}
    if pushed_version:
        pushed["IVR211_VERSION"] = pushed_version
    if stored_version:
        astdb["ivr211/version"] = stored_version
    result = call(dialplan, refused_url, now=WEDNESDAY_10H, pushed=pushed, astdb=astdb)
    queued = result.apps(QUEUE) != []
    assert queued == (source == "astdb")


def test_a_pushed_override_wins_over_an_older_astdb_mirror(
    dialplan: Dialplan, refused_url: str
) -> None:
    old = line_settings()
    new = replace(old, schedule=replace(old.schedule, override=Override("closed")), version=8)
    result = call(
        dialplan,
        refused_url,
        now=WEDNESDAY_10H,
        pushed=as_globals(new, WEDNESDAY_10H),
        astdb=as_astdb(old, WEDNESDAY_10H),
    )
    assert result.apps(QUEUE) == []
    assert result.heard() == CLOSED


# ---------------------------------------------------------------------------- routes


@pytest.mark.parametrize(
    "flow",
    [
        [
            finishes(
                IVR_ROUTE="queue", IVR_QUEUE="navigateurs", __IVR_LANG="en", __IVR_INTERPRETER="0"
            )
        ]
    ],
    indirect=True,
)
def test_route_queue_tags_english_callers_and_lets_the_navigator_transfer(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url)
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]
    assert result.caller_name == "[EN] Tremblay Marie"
    assert result.variables["TRANSFER_CONTEXT"] == "navigator-transfers"
    assert "TRANSFER_CONTEXT" in result.inherited
    assert result.language == "en"
    assert result.played() == []


@pytest.mark.parametrize(
    "flow",
    [
        [
            finishes(
                IVR_ROUTE="queue", IVR_QUEUE="navigateurs", __IVR_LANG="fr", __IVR_INTERPRETER="1"
            )
        ]
    ],
    indirect=True,
)
def test_route_queue_tags_interpreter_calls(dialplan: Dialplan, flow: FlowServer) -> None:
    result = call(dialplan, flow.url)
    assert result.caller_name == "[INT] Tremblay Marie"
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]


@pytest.mark.parametrize(
    "flow",
    [[finishes(IVR_ROUTE="research", IVR_MAILBOX="1000@recherche", __IVR_LANG="en")]],
    indirect=True,
)
def test_route_research_leaves_a_voicemail_in_the_callers_language(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url)
    assert result.apps("VoiceMail") == ["1000@recherche,s"]
    assert result.language == "en"
    assert result.variables["VM_CATEGORY"] == "en"
    assert result.played() == ["211/research-thanks"]
    assert result.apps(QUEUE) == []


@pytest.mark.parametrize(
    ("lang", "callback", "category"),
    [("fr", "4185550199", "fr/4185550199"), ("en", "", "en"), ("", "", "fr")],
)
def test_route_research_writes_language_and_callback_in_vm_category(
    dialplan: Dialplan, lang: str, callback: str, category: str
) -> None:
    decided = finishes(
        IVR_ROUTE="research",
        IVR_MAILBOX="1000@recherche",
        __IVR_LANG=lang,
        IVR_CALLBACK=callback,
    )
    with FlowServer([decided]) as server:
        result = call(dialplan, server.url)
    assert result.variables["VM_CATEGORY"] == category
    assert result.variables["VM_CATEGORY"] == vm_category(lang or "fr", callback or None)
    assert parse_vm_category(category) == (lang or "fr", callback or None)


@pytest.mark.parametrize("status", ["FAILED", "USEREXIT"])
def test_route_research_thanks_only_for_a_message_left(dialplan: Dialplan, status: str) -> None:
    decided = finishes(IVR_ROUTE="research", IVR_MAILBOX="1000@recherche", __IVR_LANG="fr")
    with FlowServer([decided]) as server:
        result = call(dialplan, server.url, voicemail=[status])
    assert result.played() == ["211/goodbye"]
    assert result.ended_by == "Hangup()"


@pytest.mark.parametrize(
    "flow", [[finishes(IVR_ROUTE="transfer", IVR_DEST_NUMBER="18662773553")]], indirect=True
)
def test_route_transfer_dials_the_full_number_over_the_trunk(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url, dial=["ANSWER"])
    assert result.apps("Dial") == ["PJSIP/18662773553@trunk,45"]
    assert result.apps(QUEUE) == []
    assert result.played() == []


@pytest.mark.parametrize(
    "flow", [[finishes(IVR_ROUTE="transfer", IVR_DEST_NUMBER="811")]], indirect=True
)
def test_route_transfer_that_fails_says_so_and_goes_to_the_queue(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url, dial=["CONGESTION"])
    assert result.apps("Dial") == ["PJSIP/811@trunk,45"]
    assert result.played() == ["211/transfer-failed"]
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]


@pytest.mark.parametrize(
    "flow", [[finishes(IVR_ROUTE="transfer", IVR_DEST_NUMBER="811&Local/x@y")]], indirect=True
)
def test_route_transfer_keeps_only_digits_in_the_dial_string(
    dialplan: Dialplan, flow: FlowServer
) -> None:
    result = call(dialplan, flow.url, dial=["ANSWER"])
    assert result.apps("Dial") == ["PJSIP/811@trunk,45"]


@pytest.mark.parametrize("flow", [[finishes(IVR_ROUTE="closed")]], indirect=True)
def test_route_closed_says_goodbye_and_hangs_up(dialplan: Dialplan, flow: FlowServer) -> None:
    result = call(dialplan, flow.url)
    assert result.played() == ["211/goodbye"]
    assert result.ended_by == "Hangup()"


@pytest.mark.parametrize("flow", [[finishes(IVR_ROUTE="hangup")]], indirect=True)
def test_route_hangup_hangs_up_without_a_word(dialplan: Dialplan, flow: FlowServer) -> None:
    result = call(dialplan, flow.url)
    assert result.played() == []
    assert result.ended_by == "Hangup()"
    assert [e.app for e in result.events][-1] == "Hangup"


@pytest.mark.parametrize("flow", [[finishes(IVR_ROUTE="somewhere-else")]], indirect=True)
def test_unknown_route_goes_to_the_fallback(dialplan: Dialplan, flow: FlowServer) -> None:
    result = call(dialplan, flow.url)
    assert result.heard() == NOTICE
    assert result.apps(QUEUE) == [f"navigateurs,{QUEUE_OPTIONS},,,600"]


# ------------------------------------------------------------------ leaving the queue


@pytest.mark.parametrize("status", ["TIMEOUT", "JOINEMPTY", "LEAVEEMPTY", "FULL"])
def test_queue_exit_goes_back_to_the_flow_with_its_language(
    dialplan: Dialplan, status: str
) -> None:
    first = finishes(IVR_ROUTE="queue", IVR_QUEUE="navigateurs", __IVR_LANG="en")
    then = finishes(IVR_ROUTE="research", IVR_MAILBOX="1000@recherche", __IVR_LANG="en")
    with FlowServer([first, then]) as server:
        result = call(dialplan, server.url, queue=[status])
    assert result.variables["QUEUESTATUS"] == status
    assert result.agi_requests == [
        f"{server.url}/incoming,,,{LINKEDID}",
        f"{server.url}/incoming,queue-exit,en,{LINKEDID}",
    ]
    assert "agi_arg_1: queue-exit" in server.headers[1]
    assert "agi_arg_2: en" in server.headers[1]
    assert f"agi_arg_3: {LINKEDID}" in server.headers[1]
    assert result.apps("VoiceMail") == ["1000@recherche,s"]


@pytest.mark.parametrize("status", ["TIMEOUT", "JOINEMPTY", "LEAVEEMPTY"])
def test_queue_exit_without_fastagi_ends_the_call_with_the_emergency_numbers(
    dialplan: Dialplan, status: str
) -> None:
    with FlowServer([finishes(IVR_ROUTE="queue", __IVR_LANG="fr")]) as server:
        result = call(dialplan, server.url, queue=[status])
    assert result.variables["AGISTATUS"] == "FAILURE"
    assert len(result.apps(QUEUE)) == 1
    assert result.played() == ["211/queue-unavailable", "211/emergency-numbers", "211/goodbye"]
    assert result.ended_by == "Hangup()"


def test_queue_exit_from_the_fallback_ends_the_call_when_fastagi_stays_down(
    dialplan: Dialplan, refused_url: str
) -> None:
    result = call(dialplan, refused_url, queue=["LEAVEEMPTY"])
    assert result.agi_requests == [
        f"{refused_url}/incoming,,,{LINKEDID}",
        f"{refused_url}/incoming,queue-exit,fr,{LINKEDID}",
    ]
    assert result.played()[-3:] == ["211/queue-unavailable", "211/emergency-numbers", "211/goodbye"]
    assert result.ended_by == "Hangup()"


def test_a_caller_who_keeps_choosing_to_wait_is_not_queued_forever(dialplan: Dialplan) -> None:
    again = finishes(IVR_ROUTE="queue", IVR_QUEUE="navigateurs", __IVR_LANG="fr")
    with FlowServer([again] * 5) as server:
        result = call(dialplan, server.url, queue=["TIMEOUT"] * 5)
    assert len(result.apps(QUEUE)) == int(dialplan.globals["QUEUE_MAX_PASSES"])
    assert result.played() == ["211/queue-unavailable", "211/emergency-numbers", "211/goodbye"]
    assert result.caller_name == "Tremblay Marie"


# --------------------------------------------------------------- navigators' transfers


@pytest.mark.parametrize(
    ("code", "dialled"),
    [("911", "PJSIP/911@trunk,45"), ("102", "PJSIP/18662773553@trunk,45")],
)
def test_navigator_short_code_dials_the_full_number(
    dialplan: Dialplan, refused_url: str, code: str, dialled: str
) -> None:
    result = call(dialplan, refused_url, context="navigator-transfers", exten=code, dial=["ANSWER"])
    assert result.apps("Dial") == [dialled]


@pytest.mark.parametrize(
    ("code", "astdb", "dialled"),
    [
        ("101", {"dest_CRISE": "14186865511"}, "PJSIP/14186865511@trunk,45"),
        ("811", {"dest_811": "18005551811"}, "PJSIP/18005551811@trunk,45"),
        ("811", {"dest_CRISE": "14186865511"}, "PJSIP/811@trunk,45"),
    ],
)
def test_navigator_short_code_dials_the_number_ivr211_mirrored_in_astdb(
    dialplan: Dialplan, refused_url: str, code: str, astdb: dict[str, str], dialled: str
) -> None:
    result = call(
        dialplan,
        refused_url,
        context="navigator-transfers",
        exten=code,
        astdb={f"ivr211/{k}": v for k, v in astdb.items()},
        dial=["ANSWER"],
    )
    assert result.apps("Dial") == [dialled]


@pytest.mark.parametrize(
    ("pushed", "astdb", "dialled"),
    [
        pytest.param(
            {"IVR211_DEST_811": "18005550811", "IVR211_VERSION": "8"},
            {"dest_811": "18005551811", "version": "7"},
            "PJSIP/18005550811@trunk,45",
            id="pushed-is-newer",
        ),
        pytest.param(
            {"IVR211_DEST_811": "18005550811", "IVR211_VERSION": "7"},
            {"dest_811": "18005551811", "version": "8"},
            "PJSIP/18005551811@trunk,45",
            id="astdb-is-newer",
        ),
        pytest.param(
            {"IVR211_DEST_811": "18005550811", "IVR211_VERSION": "8"},
            {},
            "PJSIP/18005550811@trunk,45",
            id="astdb-never-written",
        ),
        pytest.param(
            {"IVR211_DEST_811": "18005550811"},
            {"dest_811": "18005551811"},
            "PJSIP/18005551811@trunk,45",
            id="push-not-finished",
        ),
        pytest.param(
            {"IVR211_DEST_811": "", "IVR211_VERSION": "8"},
            {"dest_811": "18005551811", "version": "7"},
            "PJSIP/811@trunk,45",
            id="pushed-empty-takes-the-default",
        ),
    ],
)
def test_navigator_short_code_dials_the_number_the_listener_pushed(
    dialplan: Dialplan,
    refused_url: str,
    pushed: dict[str, str],
    astdb: dict[str, str],
    dialled: str,
) -> None:
    result = call(
        dialplan,
        refused_url,
        context="navigator-transfers",
        exten="811",
        astdb={f"ivr211/{k}": v for k, v in astdb.items()},
        pushed=pushed,
        dial=["ANSWER"],
    )
    assert result.apps("Dial") == [dialled]


def test_navigator_short_code_without_a_number_fails_cleanly(
    dialplan: Dialplan, refused_url: str
) -> None:
    result = call(dialplan, refused_url, context="navigator-transfers", exten="101")
    assert result.apps("Dial") == []
    assert result.played() == ["211/transfer-failed"]
    assert result.ended_by == "Hangup()"


@pytest.mark.parametrize("did", ["211", "4186490211", "14186490211", "+14186490211"])
def test_trunk_numbers_reach_the_call_flow(dialplan: Dialplan, refused_url: str, did: str) -> None:
    result = call(dialplan, refused_url, exten=did)
    assert result.agi_requests[0] == f"{refused_url}/incoming,,,{LINKEDID}"
