"""The project's own dialplan on a real Asterisk 22.10.1: a busy destination (6a) and a
referral given with *7 (6b), from the AMI stream and from CEL, and once in the database.

Fixtures: ``tests/fixtures/project/<scenario>/`` holds ``ami.txt`` (every AMI message,
``timestampevents = yes``), ``cel.csv`` (the project's cel_custom rows, microsecond
times, the lab host in UTC) and ``events-summary.txt``, copied from
``transcripts/6-project-dialplan/`` (its README.txt is there too). Several calls overlap
in each stream; only the navigator's call is a transfer or a referral.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from listener.cel import REFERRAL_CEL_EVENT, facts_from_rows, read_rows
from listener.interpreter import Interpreter
from listener.reconcile import noanswer_timeout_from_features, reconcile
from listener.transcripts import messages, read_log
from store import models as m
from store import reports as r
from store.db import make_engine, session_factory, upgrade
from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import record_facts

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "project"
TRANSFER_CONTEXT = "navigator-transfers"
NOANSWER_TIMEOUT_S = noanswer_timeout_from_features(ROOT / "asterisk_conf" / "features.conf")
#: The short codes of [navigator-transfers] and their keys ([ivr211-referral-keys]).
CODES = {
    "911": "911",
    "811": "811",
    "988": "988",
    "101": "crise",
    "102": "cps",
    "103": "sosvc",
    "201": "menus-travaux",
    "202": "appels-amitie",
    "203": "paniers-noel",
}
NAVIGATOR = "Local/nav-alice@lab-navs"
CALLER_NUMBER = "4185550199"  # "Marie Gagnon" <4185550199>
# The AMI event and the CEL row of one moment are stamped by different parts of
# Asterisk: 5.5 ms apart for the consultation channel's start in 6a.
TOLERANCE = timedelta(milliseconds=10)


def resolve(exten: str, context: str) -> str | None:
    return CODES.get(exten) if context == TRANSFER_CONTEXT else None


def ami_messages(scenario: str) -> list[dict[str, str]]:
    return [message for _, message in messages(read_log(FIXTURES / scenario / "ami.txt"))]


def ami_facts(scenario: str) -> list[TransferFact]:
    interpreter = Interpreter(resolve, {TRANSFER_CONTEXT})
    arrival = datetime(2026, 12, 4, tzinfo=UTC)  # every message carries its Timestamp
    return [
        fact
        for t, message in messages(read_log(FIXTURES / scenario / "ami.txt"))
        for fact in interpreter.feed(message, arrival + timedelta(seconds=t))
    ]


def cel_facts(scenario: str) -> list[TransferFact]:
    assert NOANSWER_TIMEOUT_S == 30.0
    with (FIXTURES / scenario / "cel.csv").open(encoding="utf-8") as fh:
        return facts_from_rows(
            read_rows(fh, UTC),
            resolve,
            transfer_contexts={TRANSFER_CONTEXT},
            noanswer_timeout_s=NOANSWER_TIMEOUT_S,
        )


def at(stamp: str) -> datetime:
    return datetime.fromtimestamp(float(stamp), UTC)


def test_6a_the_prompt_answered_the_consultation_not_the_service() -> None:
    """What the recording shows: the inner Dial ends BUSY, then the consultation channel
    is answered (a DialEnd with no Channel header) by Playback of our failure prompt."""
    ends = [
        (message.get("Channel"), message["DestChannel"], message["DialStatus"])
        for message in ami_messages("6a-busy-destination")
        if message.get("Event") == "DialEnd"
        and "navigator-transfers" in message.get("Channel", message["DestChannel"])
    ]
    assert ends == [
        (
            "Local/201@navigator-transfers-0000000d;2",
            "Local/5550000912@pstn-0000000e;1",
            "BUSY",
        ),
        (None, "Local/201@navigator-transfers-0000000d;1", "ANSWER"),
    ]


def test_6a_busy_destination_is_busy_with_no_answer_delay_live() -> None:
    (fact,) = ami_facts("6a-busy-destination")
    assert fact == TransferFact(
        key="atxfer:1796398250.29",
        kind=Kind.ATTENDED,
        outcome=Outcome.BUSY,
        started_at=at("1796398250.247578"),  # Newchannel of the consultation channel
        ended_at=at("1796398253.677647"),  # the navigator back in the caller's bridge
        linkedid="1796398213.23",
        navigator_channel=NAVIGATOR,
        destination="menus-travaux",
        target_exten="201",
        target_context=TRANSFER_CONTEXT,
        answer_delay_s=None,
        caller_uniqueid="1796398213.23",
        caller_number=CALLER_NUMBER,
        language="fr",
        path="open/lang:fr/main:1",
        interpreter=False,
        source=Source.AMI,
    )


def test_6a_busy_destination_from_cel_is_the_same_record() -> None:
    (live,) = ami_facts("6a-busy-destination")
    (fact,) = cel_facts("6a-busy-destination")
    assert (fact.key, fact.outcome, fact.destination, fact.answer_delay_s) == (
        live.key,
        Outcome.BUSY,
        "menus-travaux",
        None,
    )
    assert abs(fact.started_at - live.started_at) <= TOLERANCE
    assert fact.ended_at is not None and live.ended_at is not None
    assert abs(fact.ended_at - live.ended_at) <= TOLERANCE


def test_6b_referral_by_star7_is_recorded_live_with_the_callers_details() -> None:
    (event,) = [
        message
        for message in ami_messages("6b-referral-star7")
        if message.get("UserEvent") == "IVR211Referral"
    ]
    (fact,) = ami_facts("6b-referral-star7")
    assert fact == TransferFact(
        key="referral:1796398477.55:811",
        kind=Kind.REFERRAL,
        outcome=Outcome.COMPLETED,
        started_at=at(event["Timestamp"]),
        ended_at=at(event["Timestamp"]),
        linkedid="1796398477.55",
        navigator_channel=NAVIGATOR,
        destination="811",
        target_exten="",
        target_context="",
        answer_delay_s=None,
        caller_uniqueid="1796398477.55",
        caller_number=CALLER_NUMBER,
        language="fr",
        path="open/lang:fr/main:1",
        interpreter=False,
        source=Source.AMI,
    )


def test_6b_the_cel_row_of_the_referral_has_the_same_key() -> None:
    text = (FIXTURES / "6b-referral-star7" / "cel.csv").read_text(encoding="utf-8")
    assert f'"{REFERRAL_CEL_EVENT}",' in text and '"USER_DEFINED"' not in text
    (live,) = ami_facts("6b-referral-star7")
    (fact,) = cel_facts("6b-referral-star7")
    assert dataclasses.replace(
        fact, started_at=live.started_at, ended_at=live.ended_at, source=Source.AMI
    ) == dataclasses.replace(live, caller_number=None, language=None, path=None)
    assert abs(fact.started_at - live.started_at) <= TOLERANCE


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("scenario", ["6a-busy-destination", "6b-referral-star7"])
def test_recorded_live_then_reconciled_is_one_record(
    scenario: str, sessions: sessionmaker[Session]
) -> None:
    (live,) = ami_facts(scenario)
    with sessions() as session, session.begin():
        assert record_facts(session, [live]) == 1
    report = reconcile(
        FIXTURES / scenario / "cel.csv",
        sessions,
        resolve,
        None,
        tz=UTC,
        noanswer_timeout_s=NOANSWER_TIMEOUT_S,
        transfer_contexts={TRANSFER_CONTEXT},
    )
    assert (report.facts, report.inserted, report.already) == (1, 0, 1)
    with sessions() as session:
        (record,) = session.scalars(select(m.TransferRecord)).all()
        assert (record.key, record.source, record.outcome) == (
            live.key,
            "ami",
            live.outcome.value,
        )
        assert (record.caller_number, record.language) == (CALLER_NUMBER, "fr")
        assert record.answer_delay_s is None
        day = record.local_date
        assert r.answer_times(session, r.Period(day, day)) == []
