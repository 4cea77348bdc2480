"""Fuzzing the AMI wire (``listener.ami_wire.AmiProtocol`` under ``LinkManager``): the
bytes Asterisk sends, however they are cut into reads, cut short or damaged, must never
raise out of the protocol (an exception there would end the listener's link), and every
event must reach the link as it was sent.

Inputs: the recorded streams of ``tests/fixtures/ami/raw/`` (what Asterisk 22 sent),
cut into arbitrary reads, with bytes replaced, inserted or removed, and events made of
arbitrary headers. The number of inputs is the hypothesis profile's
(``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listener.ami_wire import BANNER, AmiProtocol, Event, LinkManager, to_event
from listener.transcripts import read_raw
from tests.listener.null_transport import NullTransport

RAW = Path(__file__).resolve().parents[1] / "fixtures" / "ami" / "raw"
RECORDINGS = [
    "2a1-attended-transfer-ami.raw",
    "2c1-blind-transfer-ami.raw",
    "2d1-threeway-confbridge.raw",
    "2g-ami-actions.raw",
    "2h-ami-restart.raw",
]


def _received(name: str) -> bytes:
    """What Asterisk sent on the first connection of a recording."""
    data = b""
    for chunk in read_raw(RAW / name):
        if chunk.direction != "RECV":
            continue
        if data and chunk.data.startswith(BANNER.encode()):
            break
        data += chunk.data
    return data


STREAMS = {name: _received(name) for name in RECORDINGS}


class Link:
    """Stands for ``listener.ami.AmiLink``: what the manager hands it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lost = 0

    def _on_message(self, message: Any) -> None:
        self.events.append(to_event(message))

    def _on_event(self, event: Event) -> None:
        self.events.append(event)

    def _on_connection_lost(self, exc: object) -> None:
        self.lost += 1


class Unexpected(logging.Handler):
    """Keeps the records logged with a traceback: an exception the wire did not expect."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)


@contextmanager
def unexpected_errors() -> Iterator[list[logging.LogRecord]]:
    handler = Unexpected()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


def hear(reads: list[bytes]) -> Link:
    """One connection: the protocol fed ``reads`` one by one, then closed."""
    link = Link()
    loop = asyncio.new_event_loop()
    try:
        manager = LinkManager(link, loop=loop, protocol_factory=AmiProtocol)
        protocol = AmiProtocol()
        protocol.connection_made(NullTransport())
        made: asyncio.Future[Any] = loop.create_future()
        made.set_result((None, protocol))
        manager.connection_made(made)
        for data in reads:
            protocol.data_received(data)
        protocol.connection_lost(None)
    finally:
        loop.close()
    return link


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into reads at arbitrary places (inside a character too)."""
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(STREAMS[draw(st.sampled_from(RECORDINGS))])
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "end"]))
        piece = draw(
            st.binary(max_size=8)
            | st.sampled_from([b"\r\n", b"\r\n\r\n", b": ", b"\xc3", b"Event: Shutdown\r\n"])
        )
        if action == "replace":
            data[at : at + len(piece)] = piece
        elif action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            del data[at:]
    return bytes(data)


any_stream = damaged() | st.binary(max_size=400) | st.sampled_from(list(STREAMS.values()))


@given(any_stream.flatmap(cut))
def test_any_stream_cut_anywhere_raises_nothing_out_of_the_wire(reads: list[bytes]) -> None:
    with unexpected_errors() as errors:
        link = hear(reads)
    assert [r.getMessage() for r in errors] == []
    assert link.lost == 1
    assert all(isinstance(k, str) and isinstance(v, str) for e in link.events for k, v in e.items())


@given(any_stream.flatmap(lambda data: st.tuples(st.just(data), cut(data))))
def test_what_is_heard_does_not_depend_on_how_reads_cut_the_stream(
    pair: tuple[bytes, list[bytes]],
) -> None:
    data, reads = pair
    assert hear(reads).events == hear([data]).events


# Events as Asterisk writes them: "Name: value" lines, the first "Event", values on one
# line without blanks at their ends (the wire's ": " and "\r\n" frame them). Names and
# event names are the recorded ones, or made up.
def _recorded_names() -> tuple[list[str], list[str]]:
    heard = hear([STREAMS[name] for name in RECORDINGS][:1])
    for name in RECORDINGS[1:]:
        heard.events += hear([STREAMS[name]]).events
    own = {"event", "actionid", "commandid", "result", "content", "response"}
    headers = sorted({k for e in heard.events for k in e if k.lower() not in own})
    kinds = sorted({e["Event"] for e in heard.events if "Event" in e} - {"Shutdown"})
    return headers, kinds


HEADERS, KINDS = _recorded_names()
names = st.sampled_from(HEADERS) | st.from_regex(r"X[A-Za-z0-9]{0,12}", fullmatch=True)
values = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30)
    .map(str.strip)
    .filter(bool)
)


def _one_per_case(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() not in {k.lower() for k in out}:
            out[name] = value
    return out


events = st.tuples(
    st.sampled_from(KINDS), st.lists(st.tuples(names, values), max_size=12).map(_one_per_case)
).map(lambda p: {"Event": p[0], **p[1]})


def wire(event: Event) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in event.items()) + "\r\n").encode()


@given(st.lists(events, min_size=1, max_size=8).flatmap(lambda e: st.tuples(st.just(e), st.data())))
def test_events_round_trip_through_the_wire(pair: tuple[list[Event], st.DataObject]) -> None:
    sent, data = pair
    stream = STREAMS["2a1-attended-transfer-ami.raw"].split(b"\r\n", 1)[0] + b"\r\n"
    stream += b"".join(wire(event) for event in sent)
    reads = data.draw(cut(stream))
    assert hear(reads).events == sent


@pytest.mark.parametrize("kind", [b"Event: ", b"Response: "])
def test_two_messages_glued_in_one_block_are_dropped_without_a_traceback(kind: bytes) -> None:
    blocks = STREAMS["2a1-attended-transfer-ami.raw"].split(b"\r\n\r\n")
    first, second = [b for b in blocks if b.startswith(kind)][:2]
    glued = BANNER.encode() + b"2.0\r\n" + first + b"\r\n" + second + b"\r\n\r\n"
    with unexpected_errors() as errors:
        heard = hear([glued])
    assert [r.getMessage() for r in errors] == []
    assert heard.events == []  # neither half is handed on


def test_the_recordings_are_heard_whole() -> None:
    heard = hear([STREAMS["2a1-attended-transfer-ami.raw"]]).events
    assert len(heard) > 50 and any(e.get("Event") == "AttendedTransfer" for e in heard)
