"""The interpreter on bad input, at volume, and on the details of recorded events.

Bad input is made from recorded events (``tests/fixtures/ami/``) with a header dropped
or its value spoiled, so every handler sees the shapes Asterisk really sends, broken.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from ivr.channels import channel_endpoint
from listener.interpreter import Interpreter
from listener.transcripts import messages, read_raw
from store.facts import Outcome, TransferFact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
BASE = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
DESTINATIONS = {"911": "911", "811": "811", "988": "988", "18662773553": "cps"}
SPOILED = ("", "<unknown>", "x" * 100_000, "\x00\ufffd;;", "-1", "1e400")


def resolve(exten: str, context: str) -> str | None:
    return DESTINATIONS.get(exten)


def new_interpreter(*, abort_code: str = "*1", max_in_flight: int = 20_000) -> Interpreter:
    return Interpreter(
        resolve, {"emergency-services"}, abort_code=abort_code, max_in_flight=max_in_flight
    )


def recorded(name: str) -> list[tuple[datetime, dict[str, str]]]:
    folder = "5-timestamped" if name.endswith(".timestamped") else "raw"
    return [
        (BASE + timedelta(seconds=t), message)
        for t, message in messages(read_raw(FIXTURES / folder / f"{name}.raw"))
    ]


def feed_all(
    interpreter: Interpreter, events: list[tuple[datetime, dict[str, str]]]
) -> list[TransferFact]:
    facts: list[TransferFact] = []
    for received_at, message in events:
        facts.extend(interpreter.feed(message, received_at))
    return facts


def first(events: list[tuple[datetime, dict[str, str]]], event: str, **fields: str) -> int:
    return next(
        index
        for index, (_, message) in enumerate(events)
        if message.get("Event") == event and all(message.get(k) == v for k, v in fields.items())
    )


@pytest.mark.parametrize(
    "scenario",
    [
        "2a1-attended-transfer-ami.timestamped",
        "2b4-attended-transfer-target-hangs-up",
        "2c1-blind-transfer-ami",
        "2d1-threeway-confbridge",
    ],
)
def test_spoiled_recorded_events_never_raise(scenario: str) -> None:
    """Each recorded event is preceded by copies of itself with one header dropped or
    spoiled (empty, ``<unknown>``, 100 kB, control bytes, a negative or absurd number)."""
    interpreter = new_interpreter()
    interpreter.expect_conference(
        service_uniqueid="1795878560.110",
        conference="room78443",
        navigator_channel="Local/nav-manual@navigators-00000035;1",
        caller_uniqueid=None,
        linkedid="d1-78443-caller",
        destination="988",
        exten="988",
        context="emergency-services",
        started_at=BASE,
    )
    for received_at, message in recorded(scenario):
        for name in message:
            dropped = {k: v for k, v in message.items() if k != name}
            interpreter.feed(dropped, received_at)
            for value in SPOILED:
                interpreter.feed({**message, name: value}, received_at)
        interpreter.feed(message, received_at)
    assert interpreter.stats["malformed"] > 0
    assert interpreter.in_flight["consultations"] <= 1


def test_events_of_the_wrong_shape_never_raise() -> None:
    interpreter = new_interpreter()
    odd: list[object] = [
        {},
        {"Event": ""},
        {"Event": None},
        {"Event": 42},
        {"Event": "Newchannel"},
        {"Event": "Newchannel", "Uniqueid": None, "Channel": 7},
        {"Event": "BridgeEnter", "BridgeUniqueid": "b", "Uniqueid": "u"},
        {"Event": "DTMFEnd", "Direction": "Received", "Digit": "12", "Uniqueid": "u"},
        {"Event": "VarSet", "Variable": "__IVR_LANG", "Value": None, "Uniqueid": "u"},
        {"Event": "AttendedTransfer", "Result": "Success"},
        {"Event": "BlindTransfer", "Result": "Success", "TransfereeUniqueid": "t"},
        {"Event": "Hangup", "Uniqueid": "never-seen"},
        {"Event": "NoSuchEvent", "Uniqueid": "u"},
    ]
    for event in odd:
        assert interpreter.feed(cast(Mapping[str, str], event), BASE) == []
    assert interpreter.stats["ignored"] >= 4
    assert interpreter.stats["malformed"] >= 5


def test_malformed_events_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    interpreter = new_interpreter()
    with caplog.at_level(logging.WARNING, logger="listener.interpreter"):
        interpreter.feed({"Event": "Newchannel", "Channel": "Local/x@y-00000001;1"}, BASE)
    assert interpreter.stats["malformed"] == 1
    assert "Newchannel" in caplog.text
    assert "Uniqueid" in caplog.text


@pytest.mark.parametrize(
    "scenario",
    [p.name.removesuffix(".raw") for p in sorted((FIXTURES / "raw").glob("*.raw"))]
    + [p.name.removesuffix(".raw") for p in sorted((FIXTURES / "5-timestamped").glob("*.raw"))],
)
def test_recorded_streams_are_never_counted_malformed(scenario: str) -> None:
    interpreter = new_interpreter()
    feed_all(interpreter, recorded(scenario))
    assert interpreter.stats["malformed"] == 0
    assert interpreter.in_flight["channels"] == 0
    assert interpreter.in_flight["bridges"] == 0


def _renamed(message: Mapping[str, str], n: int) -> dict[str, str]:
    out = dict(message)
    for name, value in message.items():
        if name.endswith("Uniqueid") and value:
            out[name] = f"{value}-{n}"
        if name == "Channel":
            out[name] = f"Local/talker{n}@lab-phones-{n:08x};1"
    return out


def test_memory_stays_flat_after_ten_thousand_channels_come_and_go() -> None:
    """The recorded caller's life (Newchannel, bridge, Hangup) repeated 10,000 times
    under new uniqueids leaves nothing behind but a bounded memory of hang-ups."""
    events = recorded("2b6-atxfer-without-transfer-feature")
    caller = "b6-79215-caller"
    life = [
        message
        for _, message in events
        if message.get("Uniqueid") == caller
        and message.get("Event") in {"Newchannel", "BridgeEnter", "BridgeLeave", "Hangup"}
    ]
    (bridge,) = {m["BridgeUniqueid"] for m in life if m["Event"] == "BridgeEnter"}
    create, destroy = (
        message
        for _, message in events
        if message.get("Event") in {"BridgeCreate", "BridgeDestroy"}
        and message.get("BridgeUniqueid") == bridge
    )
    assert [m["Event"] for m in (create, *life, destroy)] == [
        "BridgeCreate",
        "Newchannel",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "BridgeDestroy",
    ]
    interpreter = new_interpreter()
    for n in range(10_000):
        for message in (create, *life, destroy):
            interpreter.feed(_renamed(message, n), BASE)
    assert interpreter.in_flight["channels"] == 0
    assert interpreter.in_flight["bridges"] == 0
    assert interpreter.in_flight["consultations"] == 0
    assert interpreter.in_flight["recently_gone"] <= 4096
    assert interpreter.stats["malformed"] == 0


def test_tables_are_capped_when_hangups_are_missed() -> None:
    (newchannel,) = [
        m
        for _, m in recorded("2c2-redirect-to-811")
        if m.get("Event") == "Newchannel" and m.get("Uniqueid") == "c2-78443-caller"
    ]
    (create,) = [m for _, m in recorded("2c2-redirect-to-811") if m.get("Event") == "BridgeCreate"][
        :1
    ]
    interpreter = new_interpreter(max_in_flight=100)
    for n in range(10_000):
        interpreter.feed(_renamed(newchannel, n), BASE)
        interpreter.feed({**create, "BridgeUniqueid": f"bridge-{n}"}, BASE)
    assert interpreter.in_flight["channels"] == 100
    assert interpreter.in_flight["bridges"] == 100
    assert interpreter.stats["evicted"] == 2 * (10_000 - 100)


def test_event_timestamp_is_exact_and_garbage_falls_back_to_arrival() -> None:
    events = recorded("2c1-blind-transfer-ami")
    index = first(events, "BlindTransfer")
    received_at, blind = events[index]
    stamped = {**blind, "Timestamp": "1795880041.855650"}
    (fact,) = new_interpreter().feed(stamped, received_at)
    assert fact.started_at == datetime(2026, 11, 28, 15, 34, 1, 855650, tzinfo=UTC)
    for garbage in ("soon", "1e9", "99999999999999", "-5", "1795880041.85565.0", ""):
        (fact,) = new_interpreter().feed({**blind, "Timestamp": garbage}, received_at)
        assert fact.started_at == received_at
    naive = received_at.replace(tzinfo=None)  # never guessed: refused, counted malformed
    interpreter = new_interpreter()
    assert interpreter.feed(blind, naive) == []
    assert interpreter.stats["malformed"] == 1


def _with_ivr_variables(scenario: str) -> list[tuple[datetime, dict[str, str]]]:
    """The recorded stream, with our dialplan's inherited variables added to the caller
    channel as a copy of a recorded VarSet of that channel (the lab's calls set none)."""
    events = recorded(scenario)
    caller = next(m["Linkedid"] for _, m in events if m.get("Event") == "Newchannel")
    index = first(events, "VarSet", Uniqueid=caller)
    received_at, template = events[index]
    added = [
        (received_at, {**template, "Variable": name, "Value": value})
        for name, value in (
            ("__IVR_LANG", "fr"),
            ("__IVR_PATH", "main>navigator"),
            ("__IVR_INTERPRETER", "1"),
        )
    ]
    return events[: index + 1] + added + events[index + 1 :]


@pytest.mark.parametrize(
    ("scenario", "outcome"),
    [
        ("2a1-attended-transfer-ami", Outcome.COMPLETED),
        ("2b1-attended-transfer-noanswer", Outcome.NOT_ANSWERED),
        ("2c3-blind-transfer-dtmf", Outcome.COMPLETED),
    ],
)
def test_ivr_variables_of_the_caller_reach_the_fact(scenario: str, outcome: Outcome) -> None:
    (fact,) = feed_all(new_interpreter(), _with_ivr_variables(scenario))
    assert fact.outcome == outcome
    assert (fact.language, fact.path, fact.interpreter) == ("fr", "main>navigator", True)
    (plain,) = feed_all(new_interpreter(), recorded(scenario))
    assert (plain.language, plain.path, plain.interpreter) == (None, None, False)


def test_abort_keys_tell_abandoned_from_not_answered() -> None:
    """2b5's navigator presses ``*1`` while 913 rings: with another abort code those
    keys mean nothing, and the same stream reads as the no-answer timeout."""
    events = recorded("2b5-attended-transfer-dtmf-abort")
    (default,) = feed_all(new_interpreter(), events)
    (other,) = feed_all(new_interpreter(abort_code="#9"), events)
    assert (default.outcome, other.outcome) == (Outcome.ABANDONED, Outcome.NOT_ANSWERED)
    assert default.key == other.key == "atxfer:1795878523.84"


def test_completed_transfer_is_not_doubled_by_the_local_optimisation() -> None:
    """After AttendedTransfer the consultation pair optimises away and its ;1 half hangs
    up: only the AttendedTransfer concludes."""
    events = recorded("2a2-attended-transfer-dtmf")
    done = first(events, "AttendedTransfer")
    optimised = first(events, "LocalOptimizationEnd")
    hangup = first(events, "Hangup", Uniqueid="1795878459.50")
    assert done < optimised < hangup
    interpreter = new_interpreter()
    before = feed_all(interpreter, events[: done + 1])
    after = feed_all(interpreter, events[done + 1 :])
    assert [f.outcome for f in before] == [Outcome.COMPLETED]
    assert after == []


def test_reset_forgets_everything_in_flight() -> None:
    events = recorded("2b4-attended-transfer-target-hangs-up")
    interpreter = new_interpreter()
    answered = first(events, "DialEnd", DestUniqueid="1795878509.76", DialStatus="ANSWER")
    assert feed_all(interpreter, events[: answered + 1]) == []
    assert interpreter.in_flight["consultations"] == 1
    assert interpreter.reset() == []
    assert interpreter.in_flight == {
        "channels": 0,
        "bridges": 0,
        "consultations": 0,
        "conferences": 0,
        "recently_gone": 0,
    }
    assert feed_all(interpreter, events[answered + 1 :]) == []


@pytest.mark.parametrize(
    ("channel", "navigator"),
    [
        ("Local/nav-manual@navigators-00000014;1", "Local/nav-manual@navigators"),
        ("Local/nav-dtmf-atxfer@navigators-00000046;2", "Local/nav-dtmf-atxfer@navigators"),
        ("PJSIP/nav-alice-0000002a", "PJSIP/nav-alice"),
        ("PJSIP/nav-alice", "PJSIP/nav-alice"),
    ],
)
def test_navigator_name_drops_the_call_suffix(channel: str, navigator: str) -> None:
    assert channel_endpoint(channel) == navigator
