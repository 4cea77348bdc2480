"""Every figure of the call reports equals what a year of synthetic calls says it must
be (tests/storage/call_year.py computes them on its own), from the roll-ups and from the
raw records alike, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store import reports as r
from store.calls import record_activity, record_calls
from store.navigators import add_navigator
from store.transfers import record_facts
from tests.storage import call_year

FY = r.Period.fiscal(2026)


@pytest.fixture(scope="module")
def year() -> call_year.Year:
    return call_year.generate()


@pytest.fixture
def session(migrated_engine: Engine, year: call_year.Year) -> Iterator[Session]:
    with Session(migrated_engine, expire_on_commit=False) as sess:
        for username, name in call_year.NAVIGATORS.items():
            add_navigator(sess, username, name, call_year.member(username))
        sess.commit()
        for batch in year.batches:  # one transaction per batch, as the sources write
            record_calls(sess, batch)
            sess.commit()
        record_activity(sess, year.activity_facts())
        record_facts(sess, year.transfers)
        sess.commit()
        yield sess


SUMMARY_FIGURES = (
    "received",
    "closed",
    "fallback",
    "research",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "blocked_full",
    "blocked_joinempty",
    "answered_within",
    "service_levels",
    "abandon_rate",
    "average_speed_of_answer_s",
    "median_wait_s",
    "p90_wait_s",
    "longest_wait_s",
    "talk_s",
    "after_call_work_s",
    "average_handle_s",
)


def summary_figures(summary: r.CallSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in SUMMARY_FIGURES}


def counts(row: r.CallCount) -> tuple[int, ...]:
    return (row.received, row.offered, row.answered, row.abandoned, row.blocked, row.closed)


def check_report(
    session: Session,
    year: call_year.Year,
    period: r.Period,
    thresholds: r.Thresholds,
    raw: bool,
) -> None:
    want = call_year.expected(
        year,
        period.start,
        period.end,
        short_s=thresholds.short_abandon_s,
        levels=thresholds.service_levels_s,
        target=thresholds.service_level_target,
    )
    report = r.call_report(session, period, thresholds, raw=raw)
    assert summary_figures(report.summary) == want["summary"]
    assert {row.key: counts(row) for row in report.by_day} == want["by_day"]
    assert {row.key: counts(row) for row in report.by_month} == want["by_month"]
    assert {row.key: counts(row) for row in report.heat} == want["heat"]
    assert {row.key: counts(row) for row in report.by_language} == want["by_language"]
    assert dict(report.menu) == want["menu"]
    assert {(s, rt, d): n for s, rt, d, n in report.closed} == want["closed"]
    assert {(rt, e): n for rt, e, n in report.routes} == want["routes"]
    assert {line.language: line.percent for line in report.languages} == pytest.approx(
        want["languages_percent"], abs=1e-9
    )
    navigators = {
        row.username: {
            "answered": row.answered,
            "talk_s": row.talk_s,
            "after_call_work_s": row.after_call_work_s,
            "logged_in_s": row.logged_in_s,
            "paused_s": row.paused_s,
            "transfers": row.transfers,
            "referrals": row.referrals,
        }
        for row in report.navigators
    }
    assert navigators == want["navigators"]
    assert [
        (s.hour, s.days, s.offered, s.answered, s.handle_s, s.logged_in_s, s.needed)
        for s in report.staffing
    ] == want["staffing"]


def test_every_figure_is_the_generators(session: Session, year: call_year.Year) -> None:
    """One database per backend, loaded once: the fiscal year from the roll-ups and from
    the raw records, other thresholds, and a period across November's DST change."""
    check_report(session, year, FY, r.DEFAULT_THRESHOLDS, False)
    check_report(session, year, FY, r.DEFAULT_THRESHOLDS, True)
    thresholds = r.Thresholds(short_abandon_s=10, service_levels_s=(20, 45, 120))
    check_report(session, year, FY, thresholds, False)
    autumn = r.Period(date(2026, 10, 1), date(2026, 11, 30))
    check_report(session, year, autumn, thresholds, False)
    check_report(session, year, autumn, thresholds, True)
    # Days, whole months (from the monthly roll-ups), days again.
    mixed = r.Period(date(2026, 10, 15), date(2027, 1, 20))
    check_report(session, year, mixed, r.DEFAULT_THRESHOLDS, False)
    # The calls that arrived before midnight on March 31 stay in the fiscal year they
    # arrived in, though the queue saw them on April 1 first.
    edge = r.Period(date(2027, 3, 31), date(2027, 4, 1))
    check_report(session, year, edge, r.DEFAULT_THRESHOLDS, False)
    fy0 = next(c for c in year.calls if c.linkedid == "special.fy0")
    assert fy0.local.date() == date(2026, 3, 31)
    # The transferred-back call keeps its first answer: Alice, after 8 s.
    may = r.Period(date(2026, 5, 5), date(2026, 5, 5))
    check_report(session, year, may, r.DEFAULT_THRESHOLDS, False)
    alice = next(n for n in r.navigator_figures(session, may) if n.username == "alice")
    assert alice.answered >= 1
