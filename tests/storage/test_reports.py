"""The managers' reports on both databases: exact counts from records seeded through
``record_facts``, the annual section laid out as DOMAIN.md shows it, and exports that
never carry a caller's number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from store import models as m
from store import reports as r
from store.facts import Kind, Outcome, Source, TransferFact
from store.linesettings import SettingsStore
from store.navigators import add_navigator
from store.transfers import record_facts

ZONE = ZoneInfo("America/Toronto")
CALLER = "4185550123"
A, B, T, REF = Kind.ATTENDED, Kind.BLIND, Kind.THREEWAY, Kind.REFERRAL
DONE, ABANDONED, BUSY = Outcome.COMPLETED, Outcome.ABANDONED, Outcome.BUSY

_serial = iter(range(1, 1_000_000))


def fact(
    destination: str | None,
    kind: Kind,
    outcome: Outcome = DONE,
    *,
    at: datetime = datetime(2026, 6, 15, 10, 30, tzinfo=ZONE),
    nav: str = "PJSIP/nav-alice-0000002a",
    delay: float | None = None,
) -> TransferFact:
    n = next(_serial)
    return TransferFact(
        key=f"test:{n}",
        kind=kind,
        outcome=outcome,
        started_at=at,
        ended_at=at + timedelta(seconds=30),
        linkedid=f"1764351234.{n}",
        navigator_channel=nav,
        destination=destination,
        target_exten=destination or "5550000",
        target_context="transfer",
        answer_delay_s=delay,
        caller_uniqueid=f"1764351234.{n}",
        caller_number=CALLER,
        language="fr",
        path="main>navigator",
        source=Source.ACTION if kind is REF else Source.AMI,
    )


# The fiscal year 2026 (2026-04-01 .. 2027-03-31) of a small centre, plus two records
# on either side of its edges.
YEAR_FACTS = [
    fact("911", A, delay=2.0),
    fact("911", A, delay=3.0, at=datetime(2026, 7, 2, 14, 5, tzinfo=ZONE)),
    fact("911", A, ABANDONED, delay=1.0),
    fact("911", B, BUSY),
    fact("911", A, DONE, delay=10.0, at=datetime(2026, 4, 1, 0, 30, tzinfo=ZONE)),
    fact("911", REF),
    fact("crise", B, nav="PJSIP/nav-bob-00000001"),
    fact("crise", REF, nav="PJSIP/nav-bob-00000002"),
    fact("crise", REF, at=datetime(2027, 3, 31, 23, 59, tzinfo=ZONE)),
    fact("cps", T),
    fact("988", A, delay=4.0),
    fact("cps", REF),
    fact("988", REF),
    fact("811", REF),
    fact("811", REF),
    fact("811", REF, at=datetime(2026, 12, 24, 18, 0, tzinfo=ZONE)),
    fact("811", A, ABANDONED),
    fact("sosvc", REF),
    fact("menus-travaux", A),
    fact("menus-travaux", A),
    fact("menus-travaux", A, BUSY),
    fact("appels-amitie", REF),
    fact(None, A, nav="PJSIP/unknown-phone-00000009"),
    # outside: the evening before April 1 (local), and the first minute of next year
    fact("911", A, at=datetime(2026, 3, 31, 23, 30, tzinfo=ZONE)),
    fact("sosvc", A, at=datetime(2027, 4, 1, 0, 0, tzinfo=ZONE)),
]

EXPECTED_ANNUAL = (
    "Services d'urgence (avec bascule)* : 6\n"
    "  3 911\n"
    "  1 Centre de crise\n"
    "  2 Centre de prévention du suicide\n"
    "Services d'urgence (sans bascule)* : 9\n"
    "  1 911\n"
    "  2 Centre de crise\n"
    "  2 Centre de prévention du suicide\n"
    "  3 811\n"
    "  1 SOS violence conjugale\n"
    "*La « bascule » téléphonique désigne le transfert d'un appel vers un service\n"
    "d'urgence (par exemple, le 911), effectué par les navigateurs ou navigatrices pour\n"
    "assurer une prise en charge rapide et efficace.\n"
)

FY2026 = r.Period.fiscal(2026)


@pytest.fixture
def session(store: SettingsStore, migrated_engine: Engine) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        add_navigator(sess, "alice", "Alice Tremblay", "PJSIP/nav-alice")
        add_navigator(sess, "bob", "Bob Gagnon", "PJSIP/nav-bob")
        sess.commit()
        yield sess


@pytest.fixture
def year(session: Session) -> Session:
    assert record_facts(session, YEAR_FACTS) == len(YEAR_FACTS)
    session.commit()
    return session


def test_periods_follow_the_fiscal_year() -> None:
    assert r.Period(date(2026, 4, 1), date(2027, 3, 31)) == FY2026
    assert FY2026.fiscal_year == 2026
    assert r.Period(date(2026, 4, 1), date(2027, 3, 30)).fiscal_year is None
    assert r.current_fiscal_year(date(2027, 3, 31)) == FY2026
    assert r.current_fiscal_year(date(2027, 4, 1)) == r.Period.fiscal(2027)
    assert r.Period.parse(" 2026-05-01", "2026-05-31 ") == r.Period(
        date(2026, 5, 1), date(2026, 5, 31)
    )
    assert r.Period(date(2026, 11, 20), date(2027, 2, 3)).months() == [
        (2026, 11),
        (2026, 12),
        (2027, 1),
        (2027, 2),
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("", "2026-05-01", "date de début est requise"),
        ("2026-05-01", "31/05/2026", "date de fin invalide"),
        ("2026-02-30", "2026-05-01", "date de début invalide"),
        ("2026-06-01", "2026-05-01", "précède le début"),
        ("1990-01-01", "2026-05-01", "vingt ans"),
    ],
)
def test_a_bad_period_says_what_is_wrong(start: str, end: str, message: str) -> None:
    with pytest.raises(r.PeriodError, match=message):
        r.Period.parse(start, end)


def test_counts_by_destination_and_kind(year: Session) -> None:
    rows = {
        row.destination: (row.kind, row.avec, row.sans, row.attempts)
        for row in r.counts(year, FY2026)
    }
    assert rows == {
        "911": ("emergency", 3, 1, 5),
        "811": ("emergency", 0, 3, 1),
        "crise": ("emergency", 1, 2, 1),
        "cps": ("emergency", 1, 1, 1),
        "988": ("emergency", 1, 1, 1),
        "sosvc": ("emergency", 0, 1, 0),
        "menus-travaux": ("partner", 2, 0, 3),
        "appels-amitie": ("partner", 0, 1, 0),
        None: ("unknown", 1, 0, 1),
    }
    order = [row.destination for row in r.counts(year, FY2026)]
    assert order == [
        "911",
        "811",
        "crise",
        "cps",
        "sosvc",
        "988",
        "menus-travaux",
        "appels-amitie",
        None,
    ]


def test_the_annual_section_is_laid_out_as_the_report_prints_it(year: Session) -> None:
    section = r.annual_section(year, FY2026)
    assert r.annual_text(section) == EXPECTED_ANNUAL
    assert r.partners_text(section) == (
        "Programmes partenaires (transferts directs) : 2\n  2 Menus travaux (aide à domicile)\n"
    )


def test_an_arbitrary_period_counts_its_local_dates_only(year: Session) -> None:
    april_first = r.Period(date(2026, 4, 1), date(2026, 4, 1))
    assert r.annual_text(r.annual_section(year, april_first)).splitlines()[:3] == [
        "Services d'urgence (avec bascule)* : 1",
        "  1 911",
        "Services d'urgence (sans bascule)* : 0",
    ]
    march = r.Period(date(2026, 3, 1), date(2026, 3, 31))
    assert [(row.destination, row.avec) for row in r.counts(year, march)] == [("911", 1)]


def test_988_gets_its_own_line_once_the_centre_separates_it(year: Session) -> None:
    year.execute(update(m.Destination).where(m.Destination.key == "988").values(report_group="988"))
    year.commit()
    lines = r.annual_text(r.annual_section(year, FY2026)).splitlines()
    assert lines[:5] == [
        "Services d'urgence (avec bascule)* : 6",
        "  3 911",
        "  1 Centre de crise",
        "  1 Centre de prévention du suicide",
        "  1 9-8-8 Ligne d'aide en cas de crise de suicide",
    ]
    assert lines[5:12] == [
        "Services d'urgence (sans bascule)* : 9",
        "  1 911",
        "  2 Centre de crise",
        "  1 Centre de prévention du suicide",
        "  3 811",
        "  1 SOS violence conjugale",
        "  1 9-8-8 Ligne d'aide en cas de crise de suicide",
    ]


def test_large_counts_use_the_quebec_thousands_separator(session: Session) -> None:
    facts = [fact("811", REF) for _ in range(1234)]
    assert record_facts(session, facts) == 1234
    session.commit()
    text = r.annual_text(r.annual_section(session, FY2026))
    assert text.splitlines()[1:3] == [
        "Services d'urgence (sans bascule)* : 1\u00a0234",
        "  1\u00a0234 811",
    ]
    assert r.format_count(1234567) == "1\u00a0234\u00a0567"


def test_an_empty_year_prints_zero_totals_and_no_lines(session: Session) -> None:
    text = r.annual_text(r.annual_section(session, FY2026))
    assert text.splitlines()[:2] == [
        "Services d'urgence (avec bascule)* : 0",
        "Services d'urgence (sans bascule)* : 0",
    ]


def test_monthly_and_hourly_trends(year: Session) -> None:
    months = {b.key: (b.avec, b.sans) for b in r.monthly(year, FY2026)}
    assert len(months) == 12
    assert months[(2026, 4)] == (1, 0)
    assert months[(2026, 6)] == (7, 8)
    assert months[(2026, 7)] == (1, 0)
    assert months[(2026, 12)] == (0, 1)
    assert months[(2027, 3)] == (0, 1)
    assert sum(a for a, _ in months.values()) == 9
    assert sum(s for _, s in months.values()) == 10
    hours = {b.key: (b.avec, b.sans) for b in r.by_hour(year, FY2026)}
    assert list(hours) == list(range(24))
    assert hours[10] == (7, 8)
    assert hours[0] == (1, 0)
    assert hours[14] == (1, 0)
    assert hours[18] == (0, 1)
    assert hours[23] == (0, 1)


def test_counts_per_navigator(year: Session) -> None:
    rows = [
        (n.username, n.display_name, n.avec, n.sans, n.attempts)
        for n in r.by_navigator(year, FY2026)
    ]
    assert rows == [
        ("alice", "Alice Tremblay", 7, 9, 11),
        ("bob", "Bob Gagnon", 1, 1, 1),
        (None, "", 1, 0, 1),
    ]


def test_outcomes_of_the_transfer_attempts(year: Session) -> None:
    rows = {row.destination: dict(row.outcomes) for row in r.outcomes(year, FY2026)}
    assert rows["911"] == {
        "completed": 3,
        "abandoned": 1,
        "busy": 1,
        "not_answered": 0,
        "failed": 0,
        "caller_hung_up": 0,
    }
    assert rows["811"]["abandoned"] == 1
    assert rows["menus-travaux"] == {
        "completed": 2,
        "abandoned": 0,
        "busy": 1,
        "not_answered": 0,
        "failed": 0,
        "caller_hung_up": 0,
    }
    assert "sosvc" not in rows  # referrals only


def test_answer_times_are_nearest_rank_percentiles(year: Session) -> None:
    rows = {
        (t.destination, t.count, t.median_s, t.p90_s, t.max_s) for t in r.answer_times(year, FY2026)
    }
    assert rows == {("911", 4, 2.0, 10.0, 10.0), ("988", 1, 4.0, 4.0, 4.0)}


HUNG_UP = Outcome.CALLER_HUNG_UP


def test_a_caller_who_hung_up_is_an_attempt_never_a_bascule(session: Session) -> None:
    facts = [
        fact("911", A, delay=2.0),
        fact("911", A, HUNG_UP, delay=1.0),  # 911 answered, then the caller hung up (2l2)
        fact("911", A, HUNG_UP),  # the caller hung up while 911 rang (2l1)
        fact("crise", A, HUNG_UP),
    ]
    assert record_facts(session, facts) == 4
    session.commit()
    outcomes = {row.destination: dict(row.outcomes) for row in r.outcomes(session, FY2026)}
    assert outcomes["911"]["caller_hung_up"] == 2
    assert outcomes["crise"] == {**dict.fromkeys(r.ATTEMPT_OUTCOMES, 0), "caller_hung_up": 1}
    counts = {row.destination: (row.avec, row.attempts) for row in r.counts(session, FY2026)}
    assert counts == {"911": (1, 3), "crise": (0, 1)}
    assert r.annual_section(session, FY2026).total_avec == 1
    text = r.outcomes_csv(r.outcomes(session, FY2026))
    table = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert list(table[0]) == list(r.OUTCOME_COLUMNS)
    assert (table[0]["destination"], table[0]["appelant_a_raccroche"], table[0]["total"]) == (
        "911",
        "2",
        "3",
    )


def test_answer_times_count_only_what_the_service_answered(session: Session) -> None:
    """A busy or unanswered attempt never answered, whatever delay an older record
    carries (before ``listener.outcome``, a prompt's answer gave 6a a delay)."""
    facts = [
        fact("menus-travaux", A, delay=3.0),
        fact("menus-travaux", A, BUSY, delay=0.01),
        fact("menus-travaux", A, Outcome.NOT_ANSWERED, delay=0.5),
        fact("menus-travaux", A, HUNG_UP, delay=5.0),
    ]
    assert record_facts(session, facts) == 4
    session.commit()
    (row,) = r.answer_times(session, FY2026)
    assert (row.destination, row.count, row.median_s, row.max_s) == ("menus-travaux", 2, 3.0, 5.0)


def test_counts_csv_opens_in_a_french_excel(year: Session) -> None:
    text = r.counts_csv(r.counts(year, FY2026))
    assert text.startswith("\ufeffdestination;libelle;type;avec_bascule;sans_bascule;")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[1] == [
        "911",
        "Urgence 911 (police, pompiers, ambulance)",
        "emergency",
        "3",
        "1",
        "5",
    ]
    english = r.counts_csv(r.counts(year, FY2026), r.EXCEL_EN)
    assert english.splitlines()[0] == "\ufeff" + ",".join(r.COUNT_COLUMNS)


def test_records_csv_never_carries_a_caller_number(year: Session) -> None:
    text = "".join(r.records_csv(year, FY2026, batch=5))
    assert text.startswith("\ufeff")
    assert CALLER not in text
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert len(rows) == len(YEAR_FACTS) - 2
    assert tuple(rows[0]) == r.RECORD_COLUMNS
    assert not any("caller" in column or "appelant" in column for column in r.RECORD_COLUMNS)
    first = rows[0]
    assert first["date_locale"] == "2026-04-01"
    assert first["debut_local"] == "2026-04-01 00:30:00"
    assert first["delai_reponse_s"] == "10,000"
    assert first["navigateur"] == "alice"
    assert first["exercice"] == "2026"
    assert rows[-1]["debut_local"] == "2027-03-31 23:59:00"


@pytest.mark.parametrize(
    "period",
    [
        FY2026,
        r.Period.parse("2026-03-31", "2026-07-02"),
        r.Period.parse("2026-06-15", "2026-06-15"),
    ],
    ids=["fiscal-year", "across-the-year-start", "one-day"],
)
def test_every_figure_from_the_roll_ups_equals_the_records(year: Session, period: r.Period) -> None:
    # Equal delays, written in two batches: the delay roll-up keeps one row per delay.
    more = [fact("911", A, delay=2.0), fact("911", T, delay=3.0), fact("988", B, delay=2.0)]
    assert record_facts(year, more[:2]) + record_facts(year, more[2:]) == 3
    year.commit()
    for figure in (r.counts, r.monthly, r.by_hour, r.by_navigator, r.outcomes, r.answer_times):
        from_rollups = figure(year, period)
        assert from_rollups == figure(year, period, raw=True), figure.__name__
    # 911 answered after 1, 2, 2, 3, 3 and 10 s: ranks 3 and 6 (nearest rank) for p50, p90.
    (nine11,) = [t for t in r.answer_times(year, FY2026) if t.destination == "911"]
    assert (nine11.count, nine11.median_s, nine11.p90_s, nine11.max_s) == (6, 2.0, 10.0, 10.0)


def test_answer_times_are_whole_seconds_rounded_half_up(session: Session) -> None:
    facts = [fact("911", A, delay=0.4), fact("911", A, delay=2.5), fact("911", A, delay=2.49)]
    assert record_facts(session, facts) == 3
    session.commit()
    for raw in (False, True):
        (row,) = r.answer_times(session, FY2026, raw=raw)
        assert (row.count, row.median_s, row.p90_s, row.max_s) == (3, 2.0, 3.0, 3.0)
