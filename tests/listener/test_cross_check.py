"""The AMI stream and the CEL rows of one call must give the same transfer facts.

The listener records from the AMI stream; ``ivr211 reconcile`` records from CEL what
the listener missed. Both write under the same key, and the first one written wins,
so they must agree on everything a report counts: key, kind, outcome, destination,
call (linkedid) and navigator, and on when it happened.

The AMI stream is fed in virtual time anchored on the recording's own clock: each
recording's ``SuccessfulAuth`` carries ``EventTV: 2026-11-28T15:07:23.465+0000``
(Asterisk's clock, the one CEL's ``eventtime`` is written with; UTC in the lab), read
``+0.001273`` s into the recording, so a message read ``+t`` s in arrives at
``EventTV - 0.001273 + t``. The timed recordings (``5-timestamped``) carry their own
``Timestamp`` header, which the interpreter takes instead.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from listener.cel import CONF_CHANNEL_PREFIX, facts_from_rows, read_rows
from listener.interpreter import Interpreter
from listener.transcripts import messages, read_raw
from store.facts import Source, TransferFact

from .test_cel import FIXTURES as CEL_FIXTURES
from .test_cel import LAB_NOANSWER_TIMEOUT_S, conf_recording
from .test_replay import CALLER_NUMBER, EXPECTED, TRANSFER_CONTEXT, path_of, resolve

# Recorded 2026-12-04 with event timestamps and CEL eventtimes in microseconds.
LATER = [
    "2k-atxfer-errors-and-failed-dtmf-transfer",
    "2l1-atxfer-caller-hangs-up-target-ringing",
    "2l2-atxfer-caller-hangs-up-target-answered",
    "2n-dynamic-feature-cel-userevent",
    "2q-atxfer-dtmf-consultation-busy-prompt",
]
# Queue calls without a transfer (abandoned, answered, timeout, leaveempty/joinempty):
# both readers must conclude none.
QUEUE_ONLY = [
    "2p1-queue-abandon-after-wait",
    "2p2-queue-answered-after-5s",
    "2p3-queue-timeout",
    "2p4-queue-leaveempty-joinempty",
]
SCENARIOS = [
    "2a1-attended-transfer-ami",
    "2a2-attended-transfer-dtmf",
    "2b1-attended-transfer-noanswer",
    "2b2-attended-transfer-busy",
    "2b3-attended-transfer-cancel",
    "2b4-attended-transfer-target-hangs-up",
    "2b5-attended-transfer-dtmf-abort",
    "2b6-atxfer-without-transfer-feature",
    "2c1-blind-transfer-ami",
    "2c2-redirect-to-811",
    "2c3-blind-transfer-dtmf",
    "2d1-threeway-confbridge",
    "2d2-threeway-atxfer-dtmf",
    "2e-voicemail",
    "2f-queue",
    "2f2-queue-then-warm-transfer",
    "2a1-attended-transfer-ami.timestamped",
    "2b1-attended-transfer-noanswer.timestamped",
    "2c1-blind-transfer-ami.timestamped",
    *LATER,
]
PRECISE = {name for name in SCENARIOS if name.endswith(".timestamped")} | set(LATER)
# The timed AMI event and the timed CEL row of one moment are stamped by different
# parts of Asterisk (the AMI event when it is published, the CEL row when CEL handles
# it): the timed 2c1's BlindTransfer and BLINDTRANSFER are 1.3 ms apart.
PRECISE_TOLERANCE = timedelta(milliseconds=2)
CONF_CHANNEL = f"{CONF_CHANNEL_PREFIX}d1-0001"  # as test_cel.conf_recording names it
LAB_988_UNIQUEID = "1795878560.110"


def recorded_clock(scenario: str) -> datetime:
    """The recording's ``+0`` on Asterisk's clock, from its one ``EventTV`` header."""
    (anchor,) = [
        (t, message["EventTV"])
        for t, message in messages(read_raw(path_of(scenario)))
        if "EventTV" in message
    ]
    t, event_tv = anchor
    at = datetime.strptime(event_tv, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    return at - timedelta(seconds=t)


def ami_facts(
    scenario: str, interpreter: Interpreter | None = None, rename: dict[str, str] | None = None
) -> list[TransferFact]:
    interpreter = interpreter or Interpreter(resolve, {TRANSFER_CONTEXT})
    start = recorded_clock(scenario)
    facts: list[TransferFact] = []
    for t, message in messages(read_raw(path_of(scenario))):
        for old, new in (rename or {}).items():
            message = {name: value.replace(old, new) for name, value in message.items()}
        facts.extend(interpreter.feed(message, start + timedelta(seconds=t)))
    return facts


def cel_facts(text: str) -> list[TransferFact]:
    return facts_from_rows(
        read_rows(io.StringIO(text), UTC),
        resolve,
        transfer_contexts={TRANSFER_CONTEXT},
        noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S,
    )


def cel_text(scenario: str) -> str:
    return (CEL_FIXTURES / f"{scenario}.cel.csv").read_text(encoding="utf-8")


def same_moment(ami: datetime | None, cel: datetime | None, precise: bool) -> bool:
    """CEL without sub-seconds truncates to the second (``%F %T``); with them
    (``precise``), the two stamps agree to within :data:`PRECISE_TOLERANCE`."""
    if ami is None or cel is None:
        return ami is cel
    if not precise:
        return ami.replace(microsecond=0) == cel
    return abs(ami - cel) <= PRECISE_TOLERANCE


def assert_same_story(ami: TransferFact, cel: TransferFact, *, precise: bool) -> None:
    assert ami.source in (Source.AMI, Source.ACTION)
    assert cel.source is Source.CEL
    assert ami.started_at.tzinfo is UTC and cel.started_at.tzinfo is UTC
    assert same_moment(ami.started_at, cel.started_at, precise), (ami.started_at, cel.started_at)
    assert same_moment(ami.ended_at, cel.ended_at, precise), (ami.ended_at, cel.ended_at)
    # Whole-second CEL times make CEL's answer delay a difference of two truncated
    # stamps: within a second of the AMI's (1.004 s against 1.0 s in 2a1).
    assert (ami.answer_delay_s is None) == (cel.answer_delay_s is None)
    if ami.answer_delay_s is not None and cel.answer_delay_s is not None:
        slack = PRECISE_TOLERANCE.total_seconds() if precise else 1.0
        assert abs(ami.answer_delay_s - cel.answer_delay_s) <= slack
    # CEL carries no channel variables and no caller number on purpose (cel.py): a
    # fact from CEL has no language, path, interpreter flag or caller number. The lab's
    # calls never ran our IVR, so language and path are None on the AMI side too.
    assert (cel.caller_number, cel.language, cel.path, cel.interpreter) == (
        None,
        None,
        None,
        False,
    )
    assert ami.caller_number == CALLER_NUMBER
    compared_above = {"started_at", "ended_at", "answer_delay_s", "source"}
    compared_above |= {"caller_number", "language", "path", "interpreter"}
    differences = {
        name: (getattr(ami, name), getattr(cel, name))
        for name in (f.name for f in dataclasses.fields(TransferFact))
        if name not in compared_above and getattr(ami, name) != getattr(cel, name)
    }
    assert differences == {}


def test_every_call_recorded_both_ways_is_checked() -> None:
    with_cel = {
        path.name.removesuffix(".cel.csv") for path in Path(CEL_FIXTURES).glob("2*.cel.csv")
    }
    assert with_cel == set(SCENARIOS) | set(QUEUE_ONLY)
    assert all(path_of(scenario).exists() for scenario in [*SCENARIOS, *QUEUE_ONLY])


@pytest.mark.parametrize("scenario", QUEUE_ONLY)
def test_a_queue_call_gives_no_transfer_either_way(scenario: str) -> None:
    assert ami_facts(scenario) == []
    assert cel_facts(cel_text(scenario)) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ami_and_cel_conclude_the_same_facts(scenario: str) -> None:
    from_ami = sorted(ami_facts(scenario), key=lambda fact: fact.key)
    from_cel = sorted(cel_facts(cel_text(scenario)), key=lambda fact: fact.key)
    assert [f.key for f in from_ami] == [f.key for f in from_cel]
    assert [f.key for f in from_ami] == sorted(e.key for e in EXPECTED[scenario])
    for ami, cel in zip(from_ami, from_cel, strict=True):
        assert_same_story(ami, cel, precise=scenario in PRECISE)


def test_our_conference_three_way_is_the_same_from_ami_and_cel() -> None:
    """2d1 with the 988 channel named as our own Originate names it (``ChannelId``),
    on both sides: the AMI fact is announced by our action (Source.ACTION) and
    confirmed by its ConfbridgeJoin, the CEL fact by its BRIDGE_ENTER into the room."""
    scenario = "2d1-threeway-confbridge"
    chunks = read_raw(path_of(scenario))
    (originated,) = [
        chunk.t
        for chunk in chunks
        if chunk.direction == "SEND"
        and b"Action: Originate" in chunk.data
        and b"Channel: Local/988@emergency-services\r\n" in chunk.data
    ]
    interpreter = Interpreter(resolve, {TRANSFER_CONTEXT})
    interpreter.expect_conference(
        service_uniqueid=CONF_CHANNEL,
        conference="room78443",
        navigator_channel="Local/nav-manual@navigators-00000035;1",
        caller_uniqueid="d1-78443-caller",
        linkedid="d1-78443-caller",
        destination="988",
        exten="988",
        context=TRANSFER_CONTEXT,
        started_at=recorded_clock(scenario) + timedelta(seconds=originated),
    )
    (ami,) = ami_facts(scenario, interpreter, rename={LAB_988_UNIQUEID: CONF_CHANNEL})
    (cel,) = cel_facts(conf_recording())
    assert ami.source is Source.ACTION
    assert ami.key == f"conf:{CONF_CHANNEL}"
    assert_same_story(ami, cel, precise=False)


@pytest.mark.parametrize("scenario", ["2a1-attended-transfer-ami", "2c1-blind-transfer-ami"])
def test_a_transfer_into_another_context_is_no_fact_either_way(scenario: str) -> None:
    # The AMI side gives nothing (test_replay.test_other_transfer_context_gives_nothing).
    from_ami = ami_facts(scenario, Interpreter(resolve, {"partners"}))
    from_cel = facts_from_rows(
        read_rows(io.StringIO(cel_text(scenario)), UTC),
        resolve,
        transfer_contexts={"partners"},
        noanswer_timeout_s=LAB_NOANSWER_TIMEOUT_S,
    )
    assert [f.key for f in from_cel] == [f.key for f in from_ami]
