"""Transfer records on both databases: written once by key, dated in the line's time zone,
and tied to the navigator whose phone placed the transfer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ivr.channels import channel_endpoint
from store import models as m
from store.facts import Kind, Outcome, Source, TransferFact
from store.linesettings import SettingsStore
from store.navigators import (
    NavigatorError,
    add_navigator,
    navigator_for_channel,
)
from store.transfers import (
    existing_keys,
    fact_of,
    fiscal_year,
    record_as_dict,
    record_facts,
    record_rows,
    records_between,
)

T0 = datetime(2026, 6, 15, 14, 30, 5, 250000, tzinfo=UTC)


def fact(key: str, **changes: object) -> TransferFact:
    base = TransferFact(
        key=key,
        kind=Kind.ATTENDED,
        outcome=Outcome.COMPLETED,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=42),
        linkedid="1764351234.20",
        navigator_channel="Local/nav-manual@navigators",
        destination="911",
        target_exten="911",
        target_context="emergency-services",
        answer_delay_s=1.0,
        caller_uniqueid="1764351234.20",
        caller_number="4185550123",
        language="fr",
        path="main>navigator",
        interpreter=False,
        source=Source.AMI,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        yield sess


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(m.TransferRecord)) or 0


def test_check_constraints_follow_the_fact_enums() -> None:
    assert tuple(k.value for k in Kind) == m.TRANSFER_KINDS
    assert tuple(o.value for o in Outcome) == m.TRANSFER_OUTCOMES
    assert tuple(s.value for s in Source) == m.TRANSFER_SOURCES


def test_the_same_facts_twice_give_one_row_each(session: Session) -> None:
    facts = [fact("atxfer:1764351240.31"), fact("blind:1764351250.40:b-1", kind=Kind.BLIND)]
    assert record_facts(session, facts) == 2
    session.commit()
    assert record_facts(session, facts) == 0
    session.commit()
    assert count(session) == 2
    assert existing_keys(session, ["atxfer:1764351240.31", "conf:nope"]) == {"atxfer:1764351240.31"}


def test_a_stored_key_is_never_overwritten(session: Session) -> None:
    key = "atxfer:1764351240.31"
    assert record_facts(session, [fact(key, outcome=Outcome.ABANDONED, answer_delay_s=None)]) == 1
    session.commit()
    assert record_facts(session, [fact(key, outcome=Outcome.COMPLETED, source=Source.CEL)]) == 0
    session.commit()
    row = session.scalars(select(m.TransferRecord)).one()
    assert (row.outcome, row.source, row.answer_delay_s) == ("abandoned", "ami", None)


def test_a_key_repeated_in_one_batch_counts_once(session: Session) -> None:
    key = "referral:1764351234.20:811"
    batch = [
        fact(key, kind=Kind.REFERRAL, destination="811"),
        fact(key, kind=Kind.REFERRAL, destination="811", outcome=Outcome.FAILED),
    ]
    assert record_facts(session, batch) == 1
    session.commit()
    assert session.scalars(select(m.TransferRecord.outcome)).one() == "completed"


def test_large_batches_are_chunked(session: Session) -> None:
    facts = [fact(f"conf:1764351300.{i}", kind=Kind.THREEWAY) for i in range(1203)]
    assert record_facts(session, facts) == 1203
    session.commit()
    assert record_facts(session, [*facts[600:], fact("conf:new")]) == 1
    session.commit()
    assert count(session) == 1204
    assert len(existing_keys(session, [f.key for f in facts])) == 1203


def test_a_record_gives_back_its_fact(session: Session) -> None:
    original = fact(
        "atxfer:1764351240.31",
        started_at=datetime(2026, 6, 15, 10, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-4))),
        answer_delay_s=0.987654321,
        interpreter=True,
        language="en",
    )
    record_facts(session, [original])
    session.commit()
    session.expunge_all()
    row = session.scalars(select(m.TransferRecord)).one()
    assert fact_of(row) == original
    assert row.started_at.tzinfo is not None
    assert row.started_at.utcoffset() == timedelta(0)
    as_dict = record_as_dict(row)
    assert as_dict["key"] == "atxfer:1764351240.31"
    assert as_dict["caller_number"] == "4185550123"
    assert as_dict["local_date"] == date(2026, 6, 15)
    assert as_dict["local_hour"] == 10


# Instants in UTC and what they are on a line in America/Toronto.
LOCAL_CASES = [
    # the last second of the fiscal year 2025, and the first of 2026 (EDT, UTC-4)
    (datetime(2026, 4, 1, 3, 59, 59, tzinfo=UTC), date(2026, 3, 31), 23, 2025),
    (datetime(2026, 4, 1, 4, 0, 0, tzinfo=UTC), date(2026, 4, 1), 0, 2026),
    # UTC already says April 1 while Québec is still on March 31
    (datetime(2026, 4, 1, 1, 0, 0, tzinfo=UTC), date(2026, 3, 31), 21, 2025),
    # spring forward, 2026-03-08: 01:59 EST, then 03:00 EDT (02:xx does not exist)
    (datetime(2026, 3, 8, 6, 59, 0, tzinfo=UTC), date(2026, 3, 8), 1, 2025),
    (datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC), date(2026, 3, 8), 3, 2025),
    # fall back, 2026-11-01: 01:30 EDT and, an hour later, 01:30 EST
    (datetime(2026, 11, 1, 5, 30, 0, tzinfo=UTC), date(2026, 11, 1), 1, 2026),
    (datetime(2026, 11, 1, 6, 30, 0, tzinfo=UTC), date(2026, 11, 1), 1, 2026),
    (datetime(2026, 11, 1, 7, 30, 0, tzinfo=UTC), date(2026, 11, 1), 2, 2026),
    # New Year's Eve in Québec is already January 1 in UTC (EST, UTC-5)
    (datetime(2027, 1, 1, 4, 30, 0, tzinfo=UTC), date(2026, 12, 31), 23, 2026),
]


@pytest.mark.parametrize(("instant", "local_date", "local_hour", "year"), LOCAL_CASES)
def test_local_date_hour_and_fiscal_year(
    session: Session, instant: datetime, local_date: date, local_hour: int, year: int
) -> None:
    record_facts(session, [fact("atxfer:x", started_at=instant, ended_at=None)])
    session.commit()
    row = session.scalars(select(m.TransferRecord)).one()
    assert (row.local_date, row.local_hour, row.fiscal_year) == (local_date, local_hour, year)
    assert row.started_at == instant


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 3, 31), 2025),
        (date(2026, 4, 1), 2026),
        (date(2026, 1, 1), 2025),
        (date(2026, 12, 31), 2026),
    ],
)
def test_fiscal_year_starts_april_first(day: date, year: int) -> None:
    assert fiscal_year(day) == year


def test_local_values_follow_the_line_time_zone(
    store: SettingsStore, migrated_engine: Engine
) -> None:
    # 2026-04-01 05:30 UTC: 01:30 in Toronto (fiscal 2026), 22:30 on March 31 in Vancouver
    instant = datetime(2026, 4, 1, 5, 30, tzinfo=UTC)
    with Session(migrated_engine) as session, session.begin():
        assert session.get(m.LineOptions, m.SINGLETON_ID) is not None
        record_facts(session, [fact("atxfer:toronto", started_at=instant)])
        session.execute(update(m.LineOptions).values(timezone="America/Vancouver"))
        record_facts(session, [fact("atxfer:vancouver", started_at=instant)])
    with Session(migrated_engine) as session:
        rows = {
            r.key: (r.local_date, r.local_hour, r.fiscal_year)
            for r in session.scalars(select(m.TransferRecord))
        }
    assert rows == {
        "atxfer:toronto": (date(2026, 4, 1), 1, 2026),
        "atxfer:vancouver": (date(2026, 3, 31), 22, 2025),
    }


def test_naive_times_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="started_at has no time zone"):
        record_facts(session, [fact("atxfer:x", started_at=datetime(2026, 6, 1, 12, 0))])
    session.rollback()
    assert count(session) == 0


def test_records_between_is_half_open(session: Session) -> None:
    start = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
    end = datetime(2026, 4, 2, 4, 0, tzinfo=UTC)
    record_facts(
        session,
        [
            fact("a:before", started_at=start - timedelta(microseconds=1)),
            fact("a:first", started_at=start),
            fact("a:last", started_at=end - timedelta(seconds=1)),
            fact("a:after", started_at=end),
        ],
    )
    session.commit()
    assert [r.key for r in records_between(session, start, end)] == ["a:first", "a:last"]


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/nav-alice-0000002a", "PJSIP/nav-alice"),
        ("PJSIP/nav-alice", "PJSIP/nav-alice"),
        ("Local/nav-manual@navigators-00000014;1", "Local/nav-manual@navigators"),
        ("Local/nav-dtmf-atxfer@navigators-00000046;2", "Local/nav-dtmf-atxfer@navigators"),
        ("Local/911@emergency-services-00000015;2", "Local/911@emergency-services"),
    ],
)
def test_endpoint_of_channel(channel: str, endpoint: str) -> None:
    assert channel_endpoint(channel) == endpoint


def test_records_name_the_navigator_of_the_channel(session: Session) -> None:
    alice = add_navigator(session, "alice", "Alice Tremblay", "PJSIP/nav-alice")
    manual = add_navigator(session, "manual", "Lab navigator", "Local/nav-manual@navigators")
    session.commit()
    assert navigator_for_channel(session, "PJSIP/nav-alice-0000002a") is alice
    assert navigator_for_channel(session, "PJSIP/nav-bob-0000002b") is None
    record_facts(
        session,
        [
            fact("k:alice", navigator_channel="PJSIP/nav-alice"),
            fact("k:alice-suffixed", navigator_channel="PJSIP/nav-alice-0000002a"),
            fact("k:lab", navigator_channel="Local/nav-manual@navigators-00000014;1"),
            fact("k:unknown", navigator_channel="PJSIP/nav-bob"),
        ],
    )
    session.commit()
    rows = dict(session.execute(select(m.TransferRecord.key, m.TransferRecord.navigator_id)).all())
    assert rows == {
        "k:alice": alice.id,
        "k:alice-suffixed": alice.id,
        "k:lab": manual.id,
        "k:unknown": None,
    }


def test_record_rows_are_the_rows_record_facts_writes(session: Session) -> None:
    """``record_rows`` computes what ``record_facts`` inserts (local date, hour and fiscal
    year in the line's zone, the navigator of the phone, a withheld number as none) and
    writes nothing."""
    alice = add_navigator(session, "alice", "Alice Tremblay", "PJSIP/nav-alice")
    session.commit()
    now = datetime(2027, 1, 2, 12, 0, tzinfo=UTC)
    facts = [
        # New Year's Eve in Québec, already January 1 in UTC
        fact(
            "k:alice",
            navigator_channel="PJSIP/nav-alice-0000002a",
            started_at=datetime(2027, 1, 1, 4, 30, tzinfo=UTC),
            ended_at=None,
        ),
        fact("k:withheld", navigator_channel="PJSIP/nav-bob", caller_number="anonymous"),
    ]
    rows = record_rows(session, facts, now=now)
    assert count(session) == 0
    assert [
        (
            r["key"],
            r["navigator_id"],
            r["local_date"],
            r["local_hour"],
            r["fiscal_year"],
            r["caller_number"],
            r["created_at"],
        )
        for r in rows
    ] == [
        ("k:alice", alice.id, date(2026, 12, 31), 23, 2026, "4185550123", now),
        ("k:withheld", None, date(2026, 6, 15), 10, 2026, None, now),
    ]
    assert record_facts(session, facts, now=now) == 2
    session.commit()
    stored = {r.key: r for r in session.scalars(select(m.TransferRecord))}
    for row in rows:
        assert {name: getattr(stored[row["key"]], name) for name in row} == row


def test_removing_a_navigator_keeps_the_records(session: Session) -> None:
    alice = add_navigator(session, "alice", "Alice", "PJSIP/nav-alice")
    record_facts(session, [fact("k:alice", navigator_channel="PJSIP/nav-alice")])
    session.commit()
    session.delete(alice)
    session.commit()
    row = session.scalars(select(m.TransferRecord)).one()
    session.refresh(row)
    assert (row.navigator_id, row.navigator_channel) == (None, "PJSIP/nav-alice")


def test_navigator_accounts_are_unique(session: Session) -> None:
    nav = add_navigator(session, "alice", "Alice", "PJSIP/nav-alice")
    assert nav.queue_interface == "PJSIP/nav-alice"
    with pytest.raises(NavigatorError, match="already exists"):
        add_navigator(session, "alice", "Alice 2", "PJSIP/nav-alice2")
    with pytest.raises(NavigatorError, match="belongs to navigator 'alice'"):
        add_navigator(session, "bob", "Bob", "PJSIP/nav-alice")
    with pytest.raises(NavigatorError, match="must be a channel technology"):
        add_navigator(session, "bob", "Bob", "nav-bob")
    with pytest.raises(NavigatorError, match="must be a channel technology"):
        add_navigator(session, "bob", "Bob", "PJSIP/nav-bob-0000002b")


@pytest.mark.parametrize("presented", ["anonymous", "Anonymous", "RESTRICTED", "private", ""])
def test_a_withheld_caller_number_is_stored_as_none(session: Session, presented: str) -> None:
    """Whatever reader concluded the fact (AMI ``CallerIDNum: anonymous``, a CEL
    ``cid_num``), a withheld number is stored as no number (``ivr.callerid``)."""
    record_facts(session, [fact("atxfer:withheld", caller_number=presented)])
    session.commit()
    row = session.scalars(select(m.TransferRecord)).one()
    assert row.caller_number is None
