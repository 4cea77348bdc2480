"""CEL rows of the recorded scenarios -> the same facts as the AMI stream.

Fixtures are the lab's cel_custom rows (tests/fixtures/cel/, copied from
transcripts/cel/ and 5-timestamped/; ``2i-2a1-cel-custom-master.csv`` is the 2a1 call
exactly as cel_custom wrote it: every column quoted, no header line). The lab ran with
``atxfernoanswertimeout => 6`` and its transfer context ``emergency-services``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.channels import channel_endpoint
from listener.cel import (
    CONF_CHANNEL_PREFIX,
    DEFAULT_NOANSWER_TIMEOUT_S,
    REFERRAL_CEL_EVENT,
    CelError,
    facts_from_rows,
    parse_eventtime,
    read_rows,
)
from store.facts import Kind, Outcome, Source, TransferFact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cel"
LAB_NOANSWER_TIMEOUT_S = 6.0
DIRECTORY = {"911": "911", "811": "811", "988": "988", "18662773553": "cps"}


def resolve(exten: str, context: str) -> str | None:
    return DIRECTORY.get(exten) if context == "emergency-services" else None


def facts_of(text: str, timeout: float = LAB_NOANSWER_TIMEOUT_S) -> list[TransferFact]:
    rows = read_rows(io.StringIO(text), UTC)
    return facts_from_rows(rows, resolve, noanswer_timeout_s=timeout)


def facts_in(name: str, timeout: float = LAB_NOANSWER_TIMEOUT_S) -> list[TransferFact]:
    return facts_of((FIXTURES / name).read_text(encoding="utf-8"), timeout)


NAV_MANUAL = "Local/nav-manual@navigators"
EXPECTED: dict[str, list[tuple[str, Kind, Outcome, str | None, str, str]]] = {
    "2a1-attended-transfer-ami": [
        ("atxfer:1795878444.42", Kind.ATTENDED, Outcome.COMPLETED, "911", "911", NAV_MANUAL)
    ],
    "2a2-attended-transfer-dtmf": [
        (
            "atxfer:1795878459.50",
            Kind.ATTENDED,
            Outcome.COMPLETED,
            "911",
            "911",
            "Local/nav-dtmf-atxfer@navigators",
        )
    ],
    "2b1-attended-transfer-noanswer": [
        ("atxfer:1795878473.58", Kind.ATTENDED, Outcome.NOT_ANSWERED, None, "913", NAV_MANUAL)
    ],
    "2b2-attended-transfer-busy": [
        ("atxfer:1795878487.64", Kind.ATTENDED, Outcome.BUSY, None, "912", NAV_MANUAL)
    ],
    "2b3-attended-transfer-cancel": [
        ("atxfer:1795878499.70", Kind.ATTENDED, Outcome.ABANDONED, None, "913", NAV_MANUAL)
    ],
    "2b4-attended-transfer-target-hangs-up": [
        ("atxfer:1795878509.76", Kind.ATTENDED, Outcome.FAILED, "911", "911", NAV_MANUAL)
    ],
    "2b5-attended-transfer-dtmf-abort": [
        (
            "atxfer:1795878523.84",
            Kind.ATTENDED,
            Outcome.ABANDONED,
            None,
            "913",
            "Local/nav-dtmf-abort@navigators",
        )
    ],
    "2b6-atxfer-without-transfer-feature": [],
    "2c1-blind-transfer-ami": [
        (
            "blind:c1-78443-caller:db7dff5f-3770-461d-848e-f308e021a5b2",
            Kind.BLIND,
            Outcome.COMPLETED,
            "811",
            "811",
            NAV_MANUAL,
        )
    ],
    "2c2-redirect-to-811": [],
    "2c3-blind-transfer-dtmf": [
        (
            "blind:c3-78443-caller:b906d8f4-cc33-471a-835e-9603baa253e8",
            Kind.BLIND,
            Outcome.COMPLETED,
            "811",
            "811",
            "Local/nav-dtmf-blind@navigators",
        )
    ],
    "2d1-threeway-confbridge": [],
    "2d2-threeway-atxfer-dtmf": [
        (
            "atxfer:1795878576.118",
            Kind.THREEWAY,
            Outcome.COMPLETED,
            "911",
            "911",
            "Local/nav-dtmf-threeway@navigators",
        )
    ],
    "2e-voicemail": [],
    "2f-queue": [],
    "2f2-queue-then-warm-transfer": [
        (
            "atxfer:1795878664.142",
            Kind.ATTENDED,
            Outcome.COMPLETED,
            "911",
            "911",
            "Local/nav-dtmf-atxfer@navigators",
        )
    ],
    # Recorded 2026-12-04, eventtime with microseconds. The caller's own CHAN_END while
    # the navigator is still in the consultation ends it: the caller hung up.
    "2k-atxfer-errors-and-failed-dtmf-transfer": [
        (
            "atxfer:1796400588.309",
            Kind.ATTENDED,
            Outcome.CALLER_HUNG_UP,
            "911",
            "911",
            "Local/nav-dtmf-atxfer-late@navigators",
        )
    ],
    "2l1-atxfer-caller-hangs-up-target-ringing": [
        ("atxfer:1796400736.821", Kind.ATTENDED, Outcome.CALLER_HUNG_UP, None, "913", NAV_MANUAL)
    ],
    "2l2-atxfer-caller-hangs-up-target-answered": [
        ("atxfer:1796400775.876", Kind.ATTENDED, Outcome.CALLER_HUNG_UP, "911", "911", NAV_MANUAL)
    ],
    # The recorded row of CELGenUserEvent(IVR211_REFERRAL,811): eventtype IVR211_REFERRAL.
    "2n-dynamic-feature-cel-userevent": [
        (
            "referral:n-537-caller:811",
            Kind.REFERRAL,
            Outcome.COMPLETED,
            "811",
            "",
            "Local/nav-feature@navigators",
        )
    ],
    # The prompt after the inner Dial's BUSY answered the consultation: busy all the same.
    "2q-atxfer-dtmf-consultation-busy-prompt": [
        (
            "atxfer:1796400552.203",
            Kind.ATTENDED,
            Outcome.BUSY,
            None,
            "914",
            "Local/nav-dtmf-busyprompt@navigators",
        )
    ],
    # queue calls with no transfer (2p1-2p4): CEL gives no transfer fact for them
    "2p1-queue-abandon-after-wait": [],
    "2p2-queue-answered-after-5s": [],
    "2p3-queue-timeout": [],
    "2p4-queue-leaveempty-joinempty": [],
}


def test_every_recorded_scenario_is_in_the_table() -> None:
    recorded = {p.name.removesuffix(".cel.csv") for p in FIXTURES.glob("2*.cel.csv")}
    assert recorded - {n for n in recorded if ".timestamped" in n} == set(EXPECTED)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario_gives_the_expected_facts(scenario: str) -> None:
    facts = facts_in(f"{scenario}.cel.csv")
    got = [
        (f.key, f.kind, f.outcome, f.destination, f.target_exten, f.navigator_channel)
        for f in facts
    ]
    assert got == EXPECTED[scenario]
    assert all(f.source is Source.CEL for f in facts)
    assert all(f.started_at.tzinfo is UTC and f.ended_at is not None for f in facts)
    assert all(f.linkedid.endswith("-caller") for f in facts)


def test_attended_transfer_times_caller_and_answer_delay() -> None:
    (fact,) = facts_in("2a1-attended-transfer-ami.cel.csv")
    assert fact.started_at == datetime(2026, 11, 28, 15, 7, 24, tzinfo=UTC)
    assert fact.ended_at == datetime(2026, 11, 28, 15, 7, 27, tzinfo=UTC)
    assert fact.answer_delay_s == 1.0
    assert fact.caller_uniqueid == "a1-78443-caller"
    assert fact.linkedid == "a1-78443-caller"
    assert fact.target_context == "emergency-services"
    assert fact.caller_number is None and fact.language is None and fact.path is None


def test_answered_then_failed_keeps_the_answer_delay_unanswered_has_none() -> None:
    (failed,) = facts_in("2b4-attended-transfer-target-hangs-up.cel.csv")
    assert failed.answer_delay_s == 1.0
    (busy,) = facts_in("2b2-attended-transfer-busy.cel.csv")
    assert busy.answer_delay_s is None


def test_a_consultation_answered_by_a_prompt_has_no_answer_delay() -> None:
    """2q: the consultation's ;2 half is answered by Playback (its ANSWER row says so),
    not by Dial: the service never answered."""
    text = (FIXTURES / "2q-atxfer-dtmf-consultation-busy-prompt.cel.csv").read_text()
    assert "Local/914@emergency-services-0000000d;2,Playback,all-circuits-busy-now" in text
    (busy,) = facts_in("2q-atxfer-dtmf-consultation-busy-prompt.cel.csv")
    assert (busy.outcome, busy.answer_delay_s) == (Outcome.BUSY, None)


def test_a_caller_who_hangs_up_ends_the_consultation_then() -> None:
    (rang,) = facts_in("2l1-atxfer-caller-hangs-up-target-ringing.cel.csv")
    assert rang.ended_at == datetime(2026, 12, 4, 16, 12, 18, 702339, tzinfo=UTC)
    assert (rang.caller_uniqueid, rang.answer_delay_s) == ("l1-735-caller", None)
    (answered,) = facts_in("2l2-atxfer-caller-hangs-up-target-answered.cel.csv")
    assert answered.ended_at == datetime(2026, 12, 4, 16, 12, 57, 558086, tzinfo=UTC)
    assert answered.answer_delay_s == pytest.approx(1.003066)


def test_no_answer_is_told_from_an_abort_only_by_the_noanswer_timeout() -> None:
    # With Asterisk's default timeout (15 s) the same 6 s of ringing reads as abandoned:
    # the rows of 2b1 and 2b5 differ in nothing else that CEL records reliably.
    (fact,) = facts_in("2b1-attended-transfer-noanswer.cel.csv", DEFAULT_NOANSWER_TIMEOUT_S)
    assert fact.outcome is Outcome.ABANDONED
    (aborted,) = facts_in("2b5-attended-transfer-dtmf-abort.cel.csv", 2.0)
    assert aborted.outcome is Outcome.NOT_ANSWERED


def test_cel_custom_quoted_file_without_header_reads_like_the_fixture() -> None:
    quoted = facts_in("2i-2a1-cel-custom-master.csv")
    assert quoted == facts_in("2a1-attended-transfer-ami.cel.csv")


def test_timestamped_rows_keep_microseconds() -> None:
    (fact,) = facts_in("2a1-attended-transfer-ami.timestamped.cel.csv")
    assert fact.started_at == datetime(2026, 11, 28, 15, 34, 23, 771849, tzinfo=UTC)
    assert fact.ended_at == datetime(2026, 11, 28, 15, 34, 26, 779290, tzinfo=UTC)
    assert fact.answer_delay_s == pytest.approx(1.001993)


def test_timestamped_attended_transfer_without_target_is_found_by_its_bridge() -> None:
    # In this recording ATTENDEDTRANSFER says transfer_target_channel_uniqueid "N/A"
    # (so does the AMI AttendedTransfer: no TransferTarget* headers); bridge2_id is
    # the consultation bridge, which the consultation channel entered.
    text = (FIXTURES / "2a1-attended-transfer-ami.timestamped.cel.csv").read_text()
    assert '""transfer_target_channel_uniqueid"":""N/A""' in text
    (fact,) = facts_in("2a1-attended-transfer-ami.timestamped.cel.csv")
    assert (fact.key, fact.kind, fact.outcome) == (
        "atxfer:1795880063.18",
        Kind.ATTENDED,
        Outcome.COMPLETED,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "2b1-attended-transfer-noanswer.timestamped.cel.csv",
            ("atxfer:1795880050.12", Kind.ATTENDED, Outcome.NOT_ANSWERED),
        ),
        (
            "2c1-blind-transfer-ami.timestamped.cel.csv",
            (
                "blind:c1-80040-caller:e9e2bf38-585b-4853-aef6-8df7d76df783",
                Kind.BLIND,
                Outcome.COMPLETED,
            ),
        ),
    ],
)
def test_timestamped_scenarios(name: str, expected: tuple[str, Kind, Outcome]) -> None:
    (fact,) = facts_in(name)
    assert (fact.key, fact.kind, fact.outcome) == expected
    assert fact.started_at.microsecond != 0


def conf_recording(drop_join: bool = False) -> str:
    """2d1 with the 988 channel named as our own Originate names it (ChannelId).

    The lab's Originate gave no ChannelId, so Asterisk numbered the channel
    1795878560.110 (its uniqueid and linkedid); ours passes ``ivr211-conf-...``.
    ``drop_join`` removes that channel's BRIDGE_ENTER into the room: derived from the
    recording, not recorded.
    """
    text = (FIXTURES / "2d1-threeway-confbridge.cel.csv").read_text(encoding="utf-8")
    text = text.replace("1795878560.110", f"{CONF_CHANNEL_PREFIX}d1-0001")
    if drop_join:
        text = "".join(
            line
            for line in text.splitlines(keepends=True)
            if not (line.startswith("BRIDGE_ENTER") and f"{CONF_CHANNEL_PREFIX}d1-0001" in line)
        )
    return text


def test_our_conference_channel_joining_the_room_is_a_completed_threeway() -> None:
    (fact,) = facts_of(conf_recording())
    assert fact.key == f"conf:{CONF_CHANNEL_PREFIX}d1-0001"
    assert (fact.kind, fact.outcome, fact.destination) == (
        Kind.THREEWAY,
        Outcome.COMPLETED,
        "988",
    )
    assert fact.linkedid == "d1-78443-caller"
    assert fact.caller_uniqueid == "d1-78443-caller"
    assert fact.navigator_channel == NAV_MANUAL
    assert fact.answer_delay_s == 1.0


def test_our_conference_channel_hanging_up_before_joining_failed() -> None:
    (fact,) = facts_of(conf_recording(drop_join=True))
    assert (fact.key, fact.kind, fact.outcome) == (
        f"conf:{CONF_CHANNEL_PREFIX}d1-0001",
        Kind.THREEWAY,
        Outcome.FAILED,
    )


def referral_rows(*destinations: str) -> str:
    """2a1 plus the rows CELGenUserEvent(IVR211_REFERRAL,<key>) would add.

    The form is the one recorded in ``2n`` and ``6b`` (``eventtype`` is the user-defined
    name, ``extra`` is ``{"extra": "<key>"}``), written on the navigator's channel, here
    at the time of its first DTMF row.
    """
    text = (FIXTURES / "2a1-attended-transfer-ami.cel.csv").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("DTMF,"))
    template = next(csv.reader([lines[at]]))
    added = []
    for key in destinations:
        fields = [REFERRAL_CEL_EVENT, *template[1:12], json.dumps({"extra": key})]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(fields)
        added.append(out.getvalue())
    return "".join(lines[:at] + added + lines[at:])


def test_referral_rows_give_one_referral_per_destination() -> None:
    facts = facts_of(referral_rows("811", "cps", "811"))
    referrals = [f for f in facts if f.kind is Kind.REFERRAL]
    assert [f.key for f in referrals] == [
        "referral:a1-78443-caller:811",
        "referral:a1-78443-caller:cps",
    ]
    first = referrals[0]
    assert (first.outcome, first.destination, first.source) == (
        Outcome.COMPLETED,
        "811",
        Source.CEL,
    )
    assert first.navigator_channel == NAV_MANUAL
    assert first.caller_uniqueid == "a1-78443-caller"
    assert [f.key for f in facts if f.kind is not Kind.REFERRAL] == ["atxfer:1795878444.42"]


@pytest.mark.parametrize(
    ("text", "zone", "expected", "precise"),
    [
        ("2026-11-28 15:07:23", UTC, datetime(2026, 11, 28, 15, 7, 23, tzinfo=UTC), False),
        (
            "2026-11-28 15:34:22.329592",
            UTC,
            datetime(2026, 11, 28, 15, 34, 22, 329592, tzinfo=UTC),
            True,
        ),
        (
            "2026-07-01 10:07:23",
            ZoneInfo("America/Toronto"),
            datetime(2026, 7, 1, 14, 7, 23, tzinfo=UTC),
            False,
        ),
        (
            "2026-11-28 10:07:23.5",
            ZoneInfo("America/Toronto"),
            datetime(2026, 11, 28, 15, 7, 23, 500000, tzinfo=UTC),
            True,
        ),
        (
            "1795880050.123456",
            ZoneInfo("America/Toronto"),
            datetime(2026, 11, 28, 15, 34, 10, 123456, tzinfo=UTC),
            True,
        ),
    ],
)
def test_eventtime_forms(text: str, zone: ZoneInfo, expected: datetime, precise: bool) -> None:
    when, has_fraction = parse_eventtime(text, zone)
    assert when == expected
    assert when.tzinfo is UTC
    assert has_fraction is precise


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01 00:00:00"])
def test_unreadable_eventtime_is_an_error(text: str) -> None:
    with pytest.raises(CelError):
        parse_eventtime(text, UTC)


def test_a_row_with_missing_columns_is_an_error() -> None:
    with pytest.raises(CelError):
        list(read_rows(io.StringIO('"CHAN_START","2026-11-28 15:07:23"\n'), UTC))


@pytest.mark.parametrize(
    ("name", "navigator"),
    [
        ("Local/nav-manual@navigators-00000014;1", NAV_MANUAL),
        ("PJSIP/nav-alice-0000002f", "PJSIP/nav-alice"),
        ("PJSIP/nav-alice", "PJSIP/nav-alice"),
    ],
)
def test_navigator_channel_drops_the_instance_suffix(name: str, navigator: str) -> None:
    assert channel_endpoint(name) == navigator
