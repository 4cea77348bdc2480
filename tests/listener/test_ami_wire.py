"""What the AMI wire hands the link: every event exactly as panoramisk reads it.

An event is read once, straight into the dict the subscribers get
(``listener.ami_wire.read_event``); the reference is what the link got before, panoramisk's
``Message.from_line`` converted by ``to_event``. The recordings are the lab's exact bytes
(``tests/fixtures/ami/``) and the project dialplan's logged AMI (``tests/fixtures/project/``),
replayed read by read as the socket cut them; the variations
below change one recorded event the way a reader could get wrong (a repeated header, two
names differing by case, a header panoramisk reads itself, an empty last value).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from listener.ami_wire import BANNER, EOM, AmiProtocol, Event, LinkManager, to_event
from listener.transcripts import read_log, read_raw
from tests.listener.null_transport import NullTransport

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
PROJECT = FIXTURES.parent / "project"  # the project's dialplan, as logged (no raw bytes)
RECORDINGS = (
    sorted((FIXTURES / "raw").glob("*.raw"))
    + sorted((FIXTURES / "5-timestamped").glob("*.raw"))
    + [FIXTURES / "2g2-ami-login-and-permissions.raw"]
    + sorted(PROJECT.glob("*/ami.txt"))
)

# A DialBegin of 2a1-attended-transfer-ami, as recorded.
DIAL_BEGIN = (
    "Event: DialBegin\r\nPrivilege: call,all\r\nChannel: PJSIP/1001-00000000\r\n"
    "ChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 5145550123\r\n"
    "CallerIDName: Jean Tremblay\r\nConnectedLineNum: <unknown>\r\n"
    "ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n"
    "Context: lab211\r\nExten: 2001\r\nPriority: 2\r\nUniqueid: 1764342000.0\r\n"
    "Linkedid: 1764342000.0\r\nDestChannel: PJSIP/2001-00000001\r\n"
    "DestChannelState: 0\r\nDestChannelStateDesc: Down\r\nDestCallerIDNum: 2001\r\n"
    "DestCallerIDName: <unknown>\r\nDialString: 2001"
)


class Heard:
    """Stands for the link: what the manager hands it, and how."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.read_once = 0  # events handed over without a panoramisk Message
        self.lost: list[object] = []
        self.replies: list[Event] = []  # what the actions waiting were handed

    def _on_message(self, message: Any) -> None:
        self.events.append(to_event(message))

    def _on_event(self, event: Event) -> None:
        self.read_once += 1
        self.events.append(event)

    def _on_connection_lost(self, exc: object) -> None:
        self.lost.append(exc)


class _Waiting:
    """An action waiting for its reply, under the id it was sent with: it keeps what it
    is handed and never completes."""

    def __init__(self, ident: str, replies: list[Event]) -> None:
        self.id = self.action_id = ident
        self._replies = replies
        self.responses: list[Message] = []
        self.future = self  # not done: panoramisk queues it again when the link drops

    def done(self) -> bool:
        return False

    def __getitem__(self, key: str) -> str:
        return {"action": "QueueStatus"}[key.lower()]

    def add_message(self, message: Message) -> bool:
        self.responses.append(message)
        self._replies.append(to_event(message))
        return False


def hear(connections: list[list[bytes]], waiting: Sequence[str] = ()) -> Heard:
    """Feed each connection's reads to a new protocol under a LinkManager, with actions
    waiting under the ids ``waiting``."""
    heard = Heard()
    loop = asyncio.new_event_loop()
    try:
        for reads in connections:
            manager = LinkManager(heard, loop=loop, protocol_factory=AmiProtocol)
            protocol = AmiProtocol()
            protocol.connection_made(NullTransport())
            done: asyncio.Future[Any] = loop.create_future()
            done.set_result((None, protocol))
            manager.connection_made(done)  # gives the protocol the manager's responses
            protocol.responses.update({i: _Waiting(i, heard.replies) for i in waiting})
            for data in reads:
                protocol.data_received(data)
    finally:
        loop.close()
    return heard


class _Dispatched:
    """Stands for panoramisk's Manager under its own protocol."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.forgetable_actions: tuple[str, ...] = ()
        self.awaiting_actions: list[Any] = []

    def dispatch(self, message: Message) -> None:
        self.events.append(to_event(message))

    def connection_lost(self, exc: object) -> None:
        pass


def panoramisk_reads(
    connections: list[list[bytes]], waiting: Sequence[str] = (), replies: list[Event] | None = None
) -> list[Event]:
    """The reference: what panoramisk's own protocol dispatches, converted as the link
    converts it (what it hands the actions waiting under the ids ``waiting`` goes to
    ``replies``). It is given one whole message at a time, so that its own traps (a read
    cut in a character, an exception ending the read) stay out of the comparison."""
    handed = [] if replies is None else replies
    factory = _Dispatched()
    for reads in connections:
        data = b"".join(reads)
        if data.startswith(BANNER.encode()):
            data = data.partition(b"\r\n")[2]
        protocol = AMIProtocol()
        protocol.connection_made(NullTransport())
        protocol.responses.update({i: _Waiting(i, handed) for i in waiting})
        protocol.factory = factory
        protocol.encoding = "utf-8"
        for block in data.split(EOM.encode())[:-1]:
            with contextlib.suppress(Exception):
                protocol.data_received(block + EOM.encode())
    return factory.events


def connections(path: Path) -> list[list[bytes]]:
    out: list[list[bytes]] = []
    for chunk in read_log(path) if path.suffix == ".txt" else read_raw(path):
        if chunk.direction != "RECV":
            continue
        if not out or chunk.data.startswith(BANNER.encode()):
            out.append([])
        out[-1].append(chunk.data)
    return out


@pytest.mark.parametrize(
    "path", RECORDINGS, ids=lambda p: p.parent.name if p.suffix == ".txt" else p.stem
)
def test_every_recorded_event_is_read_once_as_panoramisk_reads_it(path: Path) -> None:
    conns = connections(path)
    heard = hear(conns)
    expected = panoramisk_reads(conns)
    assert expected, f"{path.name}: no event recorded"
    assert heard.events == expected
    assert heard.read_once > len(expected) / 2  # most without a panoramisk Message


def _one(block: str, waiting: Sequence[str] = ()) -> tuple[Heard, list[Event], list[Event]]:
    """What the link and the actions waiting were handed; panoramisk's reading of both."""
    data = (BANNER + "11.0.0\r\n" + block + EOM).encode()
    replies: list[Event] = []
    expected = panoramisk_reads([[data]], waiting, replies)
    return hear([[data]], waiting), expected, replies


VARIATIONS = {
    "as recorded": DIAL_BEGIN,
    "repeated header": DIAL_BEGIN + "\r\nChanVariable: A=1\r\nChanVariable: B=2",
    "repeated Event header": DIAL_BEGIN + "\r\nEvent: Other",
    "names differing by case": DIAL_BEGIN + "\r\nexten: 911",
    "ActionID": DIAL_BEGIN + "\r\nActionID: ami-12",
    "actionid in lower case": DIAL_BEGIN + "\r\nactionid: ami-12",
    "CommandID": DIAL_BEGIN + "\r\nCommandID: c-1",
    "quoted Result": DIAL_BEGIN + "\r\nResult: 200%20result%3D1 ",
    "Content header": DIAL_BEGIN + "\r\nContent: body",
    "empty last value": DIAL_BEGIN + "\r\nValue:",
    "empty value in the middle": DIAL_BEGIN.replace("Language: en", "Language:"),
    "value holding ': '": DIAL_BEGIN + "\r\nAppData: a: b: c",
    "line without a colon": DIAL_BEGIN.replace("Language: en", "Language en"),
    "lone line feed in a value": DIAL_BEGIN + "\r\nCallerIDName: a\nb",
    "event name in lower case": DIAL_BEGIN.replace("Event: DialBegin", "Event: dialbegin"),
    "Event not first": DIAL_BEGIN.replace(
        "Event: DialBegin\r\nPrivilege: call,all", "Privilege: call,all\r\nEvent: DialBegin"
    ),
}


@pytest.mark.parametrize("block", VARIATIONS.values(), ids=VARIATIONS.keys())
def test_a_varied_event_is_read_as_panoramisk_reads_it(block: str) -> None:
    heard, expected, _ = _one(block)
    assert heard.events == expected


def test_a_plain_event_is_read_once() -> None:
    heard, _, _ = _one(DIAL_BEGIN)
    assert heard.read_once == 1
    assert heard.events[0]["AccountCode"] == ""
    assert heard.events[0]["DialString"] == "2001"


def test_shutdown_ends_the_connection_then_reaches_the_subscribers() -> None:
    [path] = [p for p in RECORDINGS if p.stem == "2h-ami-restart"]
    heard = hear(connections(path))
    shutdowns = [e for e in heard.events if e.get("Event") == "Shutdown"]
    assert [e["Restart"] for e in shutdowns] == ["True", "False"]
    assert [to_event(m) for m in heard.lost if isinstance(m, Message)] == shutdowns


_VALUES = st.text(st.sampled_from("ab :%\r\n\té"), max_size=6)
# Names a reader could confuse: case variants, the headers panoramisk reads itself, and
# letters whose lower case is another letter (KELVIN SIGN is "k", DOTTED I two letters).
_NAMES = st.one_of(
    st.sampled_from(
        [
            *("Event", "event", "EVENT", "Channel", "CHANNEL", "Uniqueid", "X", "x"),
            *("ActionID", "actionid", "CommandID", "Result", "RESULT", "Content", "content"),
            *("Lin\u212a", "link"),
        ]
    ),
    st.text(st.sampled_from("Kk\u212aIi\u0130: \r\n"), min_size=1, max_size=4),
)
_EVENT_NAMES = st.one_of(
    st.sampled_from(["DialBegin", "Shutdown", "shutdown", "SHUTDOWN", "Hangup"]), _VALUES
)


@st.composite
def _blocks(draw: st.DrawFn) -> str:
    lines = [f"Event: {draw(_EVENT_NAMES)}"]
    lines += [
        f"{draw(_NAMES)}{draw(st.sampled_from([': ', ':', ' ']))}{draw(_VALUES)}"
        for _ in range(draw(st.integers(0, 6)))
    ]
    return "\r\n".join(lines).strip()


@settings(max_examples=300, deadline=None)
@given(_blocks())
def test_any_event_block_is_read_as_panoramisk_reads_it(block: str) -> None:
    heard, expected, _ = _one(block)
    assert heard.events == expected


@pytest.mark.parametrize(
    ("header", "claimed"),
    [
        ("ActionID: ami-12", True),
        ("actionid: ami-12", True),
        ("CommandID: ami-12", True),
        ("ActionID: ami-13", False),
        ("CommandID: ami-13\r\nActionID: ami-12", True),
        ("CommandID: ami-12\r\nActionID: ami-13", True),
        ("CommandID: \r\nActionID: ami-12", True),
    ],
)
def test_an_event_an_action_waits_for_goes_to_that_action(header: str, claimed: bool) -> None:
    heard, expected, replies = _one(f"{DIAL_BEGIN}\r\n{header}", waiting=["ami-12"])
    assert heard.events == expected
    assert heard.replies == replies
    assert bool(heard.replies) is claimed
    assert bool(heard.events) is not claimed


@settings(max_examples=300, deadline=None)
@given(_blocks(), st.lists(st.sampled_from(["", "a", "ab", "b", " "]), max_size=3))
def test_any_event_block_goes_where_panoramisk_sends_it(block: str, waiting: list[str]) -> None:
    heard, expected, replies = _one(block, waiting)
    assert heard.events == expected
    assert heard.replies == replies


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_events_cut_anywhere_by_the_socket_are_read_whole(size: int) -> None:
    path = FIXTURES / "raw" / "2a1-attended-transfer-ami.raw"
    data = b"".join(b"".join(reads) for reads in connections(path))
    heard = hear([list(_chunks(data, size))])
    assert heard.events == panoramisk_reads([[data]])
