"""Replay the recorded AMI streams of a real Asterisk 22 through the interpreter.

The streams are the lab's exact bytes (``tests/fixtures/ami/``, copied from
``transcripts/raw/`` and ``transcripts/5-timestamped/``). Time is virtual: an event
received ``+t`` seconds into the recording arrives at ``BASE + t``; the timed recordings
carry their own ``Timestamp`` header, which wins. The expected facts below are the ones
agreed for each scenario; uniqueids, bridge ids and channel names are the recorded ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from listener.interpreter import Interpreter
from listener.transcripts import messages, read_raw
from store.facts import Kind, Outcome, Source, TransferFact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
BASE = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
TRANSFER_CONTEXT = "emergency-services"
DESTINATIONS = {"911": "911", "811": "811", "988": "988", "18662773553": "cps"}
CALLER_NUMBER = "5145550123"  # Originate CallerID="Jean Tremblay" <5145550123>


def resolve(exten: str, context: str) -> str | None:
    return DESTINATIONS.get(exten)


def new_interpreter() -> Interpreter:
    return Interpreter(resolve, {TRANSFER_CONTEXT})


def path_of(scenario: str) -> Path:
    if scenario.endswith(".timestamped"):
        return FIXTURES / "5-timestamped" / f"{scenario}.raw"
    return FIXTURES / "raw" / f"{scenario}.raw"


def stream(scenario: str) -> list[tuple[datetime, dict[str, str]]]:
    return [
        (BASE + timedelta(seconds=t), message)
        for t, message in messages(read_raw(path_of(scenario)))
    ]


def replay(scenario: str, interpreter: Interpreter | None = None) -> list[TransferFact]:
    interpreter = interpreter or new_interpreter()
    facts: list[TransferFact] = []
    for received_at, message in stream(scenario):
        facts.extend(interpreter.feed(message, received_at))
    return facts


def moment(scenario: str, event: str, **fields: str) -> datetime:
    """When the last message ``event`` with these fields happened: its ``Timestamp``
    header (exact, read with Decimal) when recorded, else its virtual arrival time."""
    found = [
        (received_at, message)
        for received_at, message in stream(scenario)
        if message.get("Event") == event
        and all(message.get(name) == value for name, value in fields.items())
    ]
    assert found, f"{scenario}: no {event} {fields}"
    received_at, message = found[-1]
    if "Timestamp" in message:
        seconds = Decimal(message["Timestamp"])
        whole = int(seconds)
        micros = int((seconds - whole) * 1_000_000)
        return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micros)
    return received_at


@dataclass(frozen=True)
class Expected:
    """One agreed fact; times are named by the event that marks them."""

    key: str
    kind: Kind
    outcome: Outcome
    destination: str | None
    navigator_channel: str
    linkedid: str
    target_exten: str
    started: tuple[str, dict[str, str]]
    ended: tuple[str, dict[str, str]]
    answer_delay_s: float | None
    caller_uniqueid: str | None = None
    source: Source = Source.AMI
    extra: dict[str, str] = field(default_factory=dict)
    target_context: str = TRANSFER_CONTEXT

    def fact(self, scenario: str) -> TransferFact:
        return TransferFact(
            key=self.key,
            kind=self.kind,
            outcome=self.outcome,
            started_at=moment(scenario, self.started[0], **self.started[1]),
            ended_at=moment(scenario, self.ended[0], **self.ended[1]),
            linkedid=self.linkedid,
            navigator_channel=self.navigator_channel,
            destination=self.destination,
            target_exten=self.target_exten,
            target_context=self.target_context,
            answer_delay_s=self.answer_delay_s,
            caller_uniqueid=self.caller_uniqueid or self.linkedid,
            caller_number=CALLER_NUMBER,
            source=self.source,
        )


def attended(
    consultation: str,
    linkedid: str,
    navigator: str,
    exten: str,
    outcome: Outcome,
    ended: tuple[str, dict[str, str]],
    answer_delay_s: float | None,
    kind: Kind = Kind.ATTENDED,
) -> Expected:
    """An attended transfer: keyed and started by its consultation channel's Newchannel."""
    return Expected(
        key=f"atxfer:{consultation}",
        kind=kind,
        outcome=outcome,
        destination=DESTINATIONS.get(exten),
        navigator_channel=navigator,
        linkedid=linkedid,
        target_exten=exten,
        started=("Newchannel", {"Uniqueid": consultation}),
        ended=ended,
        answer_delay_s=answer_delay_s,
    )


def back_with_caller(navigator_uid: str, bridge: str) -> tuple[str, dict[str, str]]:
    """An abandoned transfer ends when the navigator re-enters the caller's bridge."""
    return ("BridgeEnter", {"Uniqueid": navigator_uid, "BridgeUniqueid": bridge})


def blind(transferee: str, bridge: str, navigator: str) -> Expected:
    at = ("BlindTransfer", {"TransfereeUniqueid": transferee})
    return Expected(
        key=f"blind:{transferee}:{bridge}",
        kind=Kind.BLIND,
        outcome=Outcome.COMPLETED,
        destination="811",
        navigator_channel=navigator,
        linkedid=transferee,
        target_exten="811",
        started=at,
        ended=at,
        answer_delay_s=None,
    )


def referral(linkedid: str, navigator: str, destination: str) -> Expected:
    """A referral given with *7: the feature's UserEvent, the call's Linkedid."""
    at = ("UserEvent", {"UserEvent": "IVR211Referral", "Linkedid": linkedid})
    return Expected(
        key=f"referral:{linkedid}:{destination}",
        kind=Kind.REFERRAL,
        outcome=Outcome.COMPLETED,
        destination=destination,
        navigator_channel=navigator,
        linkedid=linkedid,
        target_exten="",
        target_context="",
        started=at,
        ended=at,
        answer_delay_s=None,
    )


def caller_hangs_up(caller_uniqueid: str) -> tuple[str, dict[str, str]]:
    """The caller's own Hangup ends a consultation it was waiting through."""
    return ("Hangup", {"Uniqueid": caller_uniqueid})


NAV = "Local/nav-manual@navigators"
DONE = ("AttendedTransfer", {"Result": "Success"})

EXPECTED: dict[str, list[Expected]] = {
    "2a1-attended-transfer-ami": [
        attended("1795878444.42", "a1-78443-caller", NAV, "911", Outcome.COMPLETED, DONE, 1.0)
    ],
    "2a2-attended-transfer-dtmf": [
        attended(
            "1795878459.50",
            "a2-78443-caller",
            "Local/nav-dtmf-atxfer@navigators",
            "911",
            Outcome.COMPLETED,
            DONE,
            1.0,
        )
    ],
    "2b1-attended-transfer-noanswer": [
        attended(
            "1795878473.58",
            "2b1-78443-caller",
            NAV,
            "913",
            Outcome.NOT_ANSWERED,
            back_with_caller("1795878472.56", "0dff391a-7be2-471d-bec4-fb8584d66228"),
            None,
        )
    ],
    "2b2-attended-transfer-busy": [
        attended(
            "1795878487.64",
            "2b2-78443-caller",
            NAV,
            "912",
            Outcome.BUSY,
            back_with_caller("1795878485.62", "d319ba03-88c8-4370-95ce-3ee16a46f2d3"),
            None,
        )
    ],
    "2b3-attended-transfer-cancel": [
        attended(
            "1795878499.70",
            "2b3-78443-caller",
            NAV,
            "913",
            Outcome.ABANDONED,
            back_with_caller("1795878498.68", "18bd9ca1-7fc9-4cda-bc78-80c15e90f82b"),
            None,
        )
    ],
    "2b4-attended-transfer-target-hangs-up": [
        attended(
            "1795878509.76",
            "2b4-78443-caller",
            NAV,
            "911",
            Outcome.FAILED,
            back_with_caller("1795878508.74", "484fd4be-0eb4-46f4-93a7-84eda44735f6"),
            1.0,
        )
    ],
    "2b5-attended-transfer-dtmf-abort": [
        attended(
            "1795878523.84",
            "b5-78443-caller",
            "Local/nav-dtmf-abort@navigators",
            "913",
            Outcome.ABANDONED,
            back_with_caller("1795878518.82", "b8db7216-342a-4648-94f7-f9a34351cb4b"),
            None,
        )
    ],
    "2b6-atxfer-without-transfer-feature": [],
    "2c1-blind-transfer-ami": [
        blind("c1-78443-caller", "db7dff5f-3770-461d-848e-f308e021a5b2", NAV)
    ],
    "2c2-redirect-to-811": [],
    "2c3-blind-transfer-dtmf": [
        blind(
            "c3-78443-caller",
            "b906d8f4-cc33-471a-835e-9603baa253e8",
            "Local/nav-dtmf-blind@navigators",
        )
    ],
    "2d1-threeway-confbridge": [],
    "2d2-threeway-atxfer-dtmf": [
        attended(
            "1795878576.118",
            "d2-78443-caller",
            "Local/nav-dtmf-threeway@navigators",
            "911",
            Outcome.COMPLETED,
            DONE,
            1.0,
            kind=Kind.THREEWAY,
        )
    ],
    "2e-voicemail": [],
    "2f-queue": [],
    "2f2-queue-then-warm-transfer": [
        attended(
            "1795878664.142",
            "f2-78443-caller",
            "Local/nav-dtmf-atxfer@navigators",
            "911",
            Outcome.COMPLETED,
            DONE,
            1.0,
        )
    ],
    # Recorded 2026-12-04 (timestampevents = yes).
    # 2k: CancelAtxfer with no transfer (no fact), then *2 911 by keys, 911 answers after
    # 1 s and the caller hangs up 1.5 s into the consultation: no AttendedTransfer at all.
    "2k-atxfer-errors-and-failed-dtmf-transfer": [
        attended(
            "1796400588.309",
            "k2-574-caller",
            "Local/nav-dtmf-atxfer-late@navigators",
            "911",
            Outcome.CALLER_HUNG_UP,
            caller_hangs_up("k2-574-caller"),
            1.0,
        )
    ],
    # 2l1: the caller hangs up while 913 rings: AttendedTransfer Result: Fail.
    "2l1-atxfer-caller-hangs-up-target-ringing": [
        attended(
            "1796400736.821",
            "l1-735-caller",
            NAV,
            "913",
            Outcome.CALLER_HUNG_UP,
            caller_hangs_up("l1-735-caller"),
            None,
        )
    ],
    # 2l2: the caller hangs up after 911 answered: no event, the navigator stays with 911.
    "2l2-atxfer-caller-hangs-up-target-answered": [
        attended(
            "1796400775.876",
            "l2-774-caller",
            NAV,
            "911",
            Outcome.CALLER_HUNG_UP,
            caller_hangs_up("l2-774-caller"),
            1.0,
        )
    ],
    # 2n: *7 on the navigator's channel raises the referral UserEvent.
    "2n-dynamic-feature-cel-userevent": [
        referral("n-537-caller", "Local/nav-feature@navigators", "811")
    ],
    # 2q: the inner Dial ends BUSY, then a prompt answers the consultation: busy, and no
    # answer delay (the service never answered).
    "2q-atxfer-dtmf-consultation-busy-prompt": [
        attended(
            "1796400552.203",
            "q-537-caller",
            "Local/nav-dtmf-busyprompt@navigators",
            "914",
            Outcome.BUSY,
            back_with_caller("1796400548.187", "4a082f4f-b829-4d6a-b4e9-1b907557e302"),
            None,
        )
    ],
    "1z-agi-scenarios-ami-stream": [],
    "2g-ami-actions": [],  # holds a BlindTransfer with Result: Invalid
    "2h-ami-restart": [],
    # Recorded again with timestampevents = yes. This AttendedTransfer has no
    # TransferTarget* headers at all: the key still is the consultation channel's.
    "2a1-attended-transfer-ami.timestamped": [
        attended("1795880063.18", "a1-80040-caller", NAV, "911", Outcome.COMPLETED, DONE, 1.0)
    ],
    "2b1-attended-transfer-noanswer.timestamped": [
        attended(
            "1795880050.12",
            "2b1-80040-caller",
            NAV,
            "913",
            Outcome.NOT_ANSWERED,
            back_with_caller("1795880048.10", "41150252-b1f2-4c90-984a-87d294f28162"),
            None,
        )
    ],
    "2c1-blind-transfer-ami.timestamped": [
        blind("c1-80040-caller", "e9e2bf38-585b-4853-aef6-8df7d76df783", NAV)
    ],
}
TIMED = [name for name in EXPECTED if name.endswith(".timestamped")]


def rounded(facts: list[TransferFact]) -> list[TransferFact]:
    return [
        dataclasses.replace(
            fact,
            answer_delay_s=None if fact.answer_delay_s is None else round(fact.answer_delay_s, 1),
        )
        for fact in facts
    ]


def expected_facts(scenario: str) -> list[TransferFact]:
    return [expected.fact(scenario) for expected in EXPECTED[scenario]]


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_scenario_gives_the_agreed_facts(scenario: str) -> None:
    assert rounded(replay(scenario)) == expected_facts(scenario)


@pytest.mark.parametrize("scenario", TIMED)
def test_timed_recordings_take_the_event_timestamp(scenario: str) -> None:
    (fact,) = replay(scenario)
    started = EXPECTED[scenario][0].started
    (header,) = [
        message["Timestamp"]
        for _, message in stream(scenario)
        if message.get("Event") == started[0]
        and all(message.get(k) == v for k, v in started[1].items())
    ]
    assert f"{fact.started_at.timestamp():.6f}" == header
    assert fact.started_at.tzinfo is UTC
    assert fact.ended_at is not None
    assert fact.ended_at.tzinfo is UTC
    assert abs(fact.started_at - BASE) > timedelta(minutes=30)  # not the virtual clock


def test_timed_attended_transfer_has_no_target_headers() -> None:
    """What makes the timed 2a1 worth replaying: the interpreter must key it without
    ``TransferTargetUniqueid``."""
    (event,) = [
        message
        for _, message in stream("2a1-attended-transfer-ami.timestamped")
        if message.get("Event") == "AttendedTransfer"
    ]
    assert not any(name.startswith("TransferTarget") for name in event)
    assert event["SecondBridgeUniqueid"] == "554246ab-951a-45a5-aabb-b7d7dfb9d5b0"


def test_completed_key_is_the_tracked_consultation_channel() -> None:
    """One key space for both paths: the AttendedTransfer's target is the channel the
    consultation was followed on (the abandoned path keys on it too)."""
    (event,) = [
        message
        for _, message in stream("2a1-attended-transfer-ami")
        if message.get("Event") == "AttendedTransfer"
    ]
    consultation = [
        message
        for _, message in stream("2a1-attended-transfer-ami")
        if message.get("Event") == "Newchannel"
        and message.get("Channel", "").startswith(f"Local/911@{TRANSFER_CONTEXT}-")
        and message.get("Channel", "").endswith(";1")
    ]
    assert [m["Uniqueid"] for m in consultation] == [event["TransferTargetUniqueid"]]
    (fact,) = replay("2a1-attended-transfer-ami")
    assert fact.key == f"atxfer:{event['TransferTargetUniqueid']}"


def test_conference_three_way_is_confirmed_by_its_join() -> None:
    """2d1 has no transfer event: our own Originate of 988 into the room is announced,
    and its ConfbridgeJoin confirms it."""
    scenario = "2d1-threeway-confbridge"
    (originated_at,) = [
        BASE + timedelta(seconds=chunk.t)
        for chunk in read_raw(path_of(scenario))
        if chunk.direction == "SEND"
        and b"Action: Originate" in chunk.data
        and b"Channel: Local/988@emergency-services\r\n" in chunk.data
    ]
    interpreter = new_interpreter()
    interpreter.expect_conference(
        service_uniqueid="1795878560.110",
        conference="room78443",
        navigator_channel="Local/nav-manual@navigators-00000035;1",
        caller_uniqueid="d1-78443-caller",
        linkedid="d1-78443-caller",
        destination="988",
        exten="988",
        context=TRANSFER_CONTEXT,
        started_at=originated_at,
    )
    facts = replay(scenario, interpreter)
    assert rounded(facts) == [
        TransferFact(
            key="conf:1795878560.110",
            kind=Kind.THREEWAY,
            outcome=Outcome.COMPLETED,
            started_at=originated_at,
            ended_at=moment(scenario, "ConfbridgeJoin", Uniqueid="1795878560.110"),
            linkedid="d1-78443-caller",
            navigator_channel=NAV,
            destination="988",
            target_exten="988",
            target_context=TRANSFER_CONTEXT,
            answer_delay_s=1.0,
            caller_uniqueid="d1-78443-caller",
            caller_number=CALLER_NUMBER,
            source=Source.ACTION,
        )
    ]
    assert interpreter.in_flight["conferences"] == 0


def test_conference_channel_that_never_joins_is_failed() -> None:
    """The service leg ``Local/crisis988@service-phones-00000038;1`` never joins the
    room and hangs up: announced as our conference channel, it is a failed three-way."""
    scenario = "2d1-threeway-confbridge"
    interpreter = new_interpreter()
    interpreter.expect_conference(
        service_uniqueid="1795878560.112",
        conference="room78443",
        navigator_channel=NAV,
        caller_uniqueid=None,
        linkedid="d1-78443-caller",
        destination="988",
        exten="988",
        context=TRANSFER_CONTEXT,
        started_at=BASE,
    )
    (fact,) = replay(scenario, interpreter)
    assert (fact.key, fact.outcome, fact.source) == (
        "conf:1795878560.112",
        Outcome.FAILED,
        Source.ACTION,
    )
    assert fact.ended_at == moment(scenario, "Hangup", Uniqueid="1795878560.112")
    assert fact.answer_delay_s is None


def test_conference_after_reset_is_not_concluded_failed() -> None:
    """After a reconnect the join may have been missed: a hang-up proves nothing."""
    interpreter = new_interpreter()
    interpreter.expect_conference(
        service_uniqueid="1795878560.112",
        conference="room78443",
        navigator_channel=NAV,
        caller_uniqueid=None,
        linkedid="d1-78443-caller",
        destination="988",
        exten="988",
        context=TRANSFER_CONTEXT,
        started_at=BASE,
    )
    assert interpreter.reset() == []
    assert replay("2d1-threeway-confbridge", interpreter) == []


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_replaying_twice_gives_the_same_keys(scenario: str) -> None:
    interpreter = new_interpreter()
    first = replay(scenario, interpreter)
    second = replay(scenario, interpreter)
    assert second == first
    assert [fact.key for fact in first] == [e.key for e in EXPECTED[scenario]]


def test_all_scenarios_in_one_stream_give_the_union() -> None:
    interpreter = new_interpreter()
    together: list[TransferFact] = []
    for scenario in EXPECTED:
        together.extend(replay(scenario, interpreter))
    separately = [fact for scenario in EXPECTED for fact in replay(scenario)]
    assert together == separately
    assert len({fact.key for fact in together}) == len(together) == 19
    assert interpreter.in_flight["channels"] == 0
    assert interpreter.in_flight["bridges"] == 0
    assert interpreter.in_flight["consultations"] == 0


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_any_transfer_context_gives_the_same_facts(scenario: str) -> None:
    """Without a context list a consultation is known by the navigator's Hold and the
    ATTENDEDTRANSFER variable: the lab's streams give the same facts."""
    interpreter = Interpreter(resolve, None)
    assert replay(scenario, interpreter) == replay(scenario)


def test_other_transfer_context_gives_nothing() -> None:
    """A transfer into another context is not ours; a referral is dialled nowhere (the
    *7 feature names its destination key), so it is kept whatever the contexts."""
    for scenario in EXPECTED:
        facts = replay(scenario, Interpreter(resolve, {"partners"}))
        assert [fact for fact in facts if fact.kind is not Kind.REFERRAL] == []
        assert [fact.key for fact in facts] == [
            e.key for e in EXPECTED[scenario] if e.kind is Kind.REFERRAL
        ]


@pytest.mark.parametrize(
    "scenario",
    [
        "2a1-attended-transfer-ami",
        "2b1-attended-transfer-noanswer",
        "2a1-attended-transfer-ami.timestamped",
        "2b1-attended-transfer-noanswer.timestamped",
    ],
)
def test_link_lost_at_any_message_never_gives_a_wrong_fact(scenario: str) -> None:
    """Cut the stream at every message boundary, reset (the link dropped), feed the
    rest: the transfer may be missed (the reconciliation recovers it) but any fact
    given has the right key, kind and outcome, and is given once."""
    events = stream(scenario)
    (expected,) = EXPECTED[scenario]
    seen_complete = 0
    for cut in range(len(events) + 1):
        interpreter = new_interpreter()
        facts: list[TransferFact] = []
        for received_at, message in events[:cut]:
            facts.extend(interpreter.feed(message, received_at))
        facts.extend(interpreter.reset())
        for received_at, message in events[cut:]:
            facts.extend(interpreter.feed(message, received_at))
        assert len(facts) <= 1, f"cut at {cut}"
        for fact in facts:
            assert (fact.key, fact.kind, fact.outcome) == (
                expected.key,
                expected.kind,
                expected.outcome,
            ), f"cut at {cut}"
            assert fact.linkedid == expected.linkedid
        seen_complete += len(facts)
    assert seen_complete > len(events) // 2  # most cuts miss nothing


SUMMARY_OMITS = {
    "VarSet",
    "Newexten",
    "DeviceStateChange",
    "NewCallerid",
    "NewConnectedLine",
    "Cdr",
    "DTMFBegin",
}


@pytest.mark.parametrize("scenario", [name for name in EXPECTED if name not in TIMED])
def test_raw_reader_finds_every_message_of_the_summary(scenario: str) -> None:
    """The summary lists each message the lab received (``RECV  <Event>`` or
    ``RECV  Response``): the raw reader must find the same ones, in order."""
    summary = (FIXTURES / "summary" / f"{scenario}.summary.txt").read_text(encoding="utf-8")
    listed = [
        line.split()[3]
        for line in summary.splitlines()
        if line.startswith("+") and line.split()[2] == "RECV" and line.split()[3] != "banner"
    ]
    parsed = [
        message.get("Event") or ("Response" if "Response" in message else "?")
        for _, message in messages(read_raw(path_of(scenario)))
    ]
    assert [name for name in parsed if name not in SUMMARY_OMITS] == listed
