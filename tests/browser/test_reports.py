"""The manager's reports in Chromium: pick a fiscal year in the page's form, read the
annual section ready to paste, export the CSV files (never a caller's number)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from store.facts import Kind, Outcome, Source, TransferFact
from store.transfers import record_facts
from tests.browser.conftest import NAV_ENDPOINT, Dashboard, log_in, page_errors

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("America/Toronto")
_numbers = iter(range(1000))


def fact(
    destination: str,
    kind: Kind,
    outcome: Outcome = Outcome.COMPLETED,
    at: datetime = datetime(2025, 9, 10, 11, 15, tzinfo=ZONE),
) -> TransferFact:
    n = next(_numbers)
    return TransferFact(
        key=f"browser:{n}",
        kind=kind,
        outcome=outcome,
        started_at=at + timedelta(minutes=n),
        ended_at=at + timedelta(minutes=n, seconds=40),
        linkedid=f"1757517300.{n}",
        navigator_channel=NAV_ENDPOINT,
        destination=destination,
        target_exten=destination,
        target_context="emergency-services",
        answer_delay_s=2.5 if kind is not Kind.REFERRAL else None,
        caller_uniqueid=f"1757517300.{n}",
        caller_number=f"418555{n:04d}",
        language="fr",
        path="main>navigator",
        source=Source.ACTION if kind is Kind.REFERRAL else Source.AMI,
    )


#: Fiscal year 2025 (2025-04-01 - 2026-03-31), and one record of 2026 that must not count.
FACTS = [
    *(fact("911", Kind.ATTENDED) for _ in range(3)),
    fact("811", Kind.BLIND, at=datetime(2025, 12, 3, 9, 0, tzinfo=ZONE)),
    fact("811", Kind.BLIND, at=datetime(2026, 3, 31, 18, 30, tzinfo=ZONE)),
    fact("988", Kind.THREEWAY),
    *(fact("811", Kind.REFERRAL, at=datetime(2025, 4, 1, 8, 5, tzinfo=ZONE)) for _ in range(4)),
    fact("sosvc", Kind.REFERRAL),
    fact("menus-travaux", Kind.ATTENDED),
    fact("appels-amitie", Kind.BLIND),
    fact("911", Kind.ATTENDED, Outcome.ABANDONED),
    fact("911", Kind.ATTENDED, at=datetime(2026, 4, 1, 10, 0, tzinfo=ZONE)),  # FY 2026
]
CALLER_NUMBERS = [f.caller_number for f in FACTS if f.caller_number]

FOOTNOTE = """\
*La « bascule » téléphonique désigne le transfert d'un appel vers un service
d'urgence (par exemple, le 911), effectué par les navigateurs ou navigatrices pour
assurer une prise en charge rapide et efficace.
"""
ANNUAL_2025 = (
    """\
Services d'urgence (avec bascule)* : 6
  3 911
  1 Centre de prévention du suicide
  2 811
Services d'urgence (sans bascule)* : 5
  4 811
  1 SOS violence conjugale
"""
    + FOOTNOTE
)
PARTNERS_2025 = """\
Programmes partenaires (transferts directs) : 2
  1 Menus travaux (aide à domicile)
  1 Appels d'amitié (aînés isolés)
"""
COUNTS_2025 = [
    ["destination", "libelle", "type", "avec_bascule", "sans_bascule", "tentatives_de_bascule"],
    ["911", "Urgence 911 (police, pompiers, ambulance)", "emergency", "3", "0", "4"],
    ["811", "Info-Santé (option 1) / Info-Social (option 2) 811", "emergency", "2", "4", "2"],
    ["sosvc", "SOS violence conjugale", "emergency", "0", "1", "0"],
    ["988", "9-8-8 Ligne d'aide en cas de crise de suicide", "emergency", "1", "0", "1"],
    ["menus-travaux", "Menus travaux (aide à domicile)", "partner", "1", "0", "1"],
    ["appels-amitie", "Appels d'amitié (aînés isolés)", "partner", "1", "0", "1"],
]


@pytest.fixture
def seeded(dashboard: Dashboard) -> Dashboard:
    with Session(dashboard.engine) as session, session.begin():
        assert record_facts(session, FACTS) == len(FACTS)
    return dashboard


def show_fiscal_year(page: Page, year: int) -> None:
    """Pick the fiscal year in the period form and send it, as a manager does."""
    page.locator("#fy").select_option(str(year))
    page.locator("#period-fy button[type=submit]").click()
    page.wait_for_url(re.compile(rf"fy={year}"))


def test_annual_section_of_a_fiscal_year(page: Page, seeded: Dashboard) -> None:
    log_in(page, seeded.users["manager"])
    show_fiscal_year(page, 2025)

    expect(page.locator("#fy")).to_have_value("2025")
    expect(page.locator("#start")).to_have_value("2025-04-01")
    expect(page.locator("#end")).to_have_value("2026-03-31")
    assert page.locator("#annual-text").text_content() == ANNUAL_2025
    assert page.locator("#partners-text").text_content() == PARTNERS_2025
    expect(page.locator("#counts tbody tr[data-destination='911'] td.num").first).to_have_text("3")
    body = page.locator("body").inner_text()
    assert not any(number in body for number in CALLER_NUMBERS)
    assert page_errors(page) == []


def test_annual_section_of_other_dates(page: Page, seeded: Dashboard) -> None:
    """The dates form: only April 1 2026, the record of fiscal year 2026."""
    log_in(page, seeded.users["manager"])
    page.locator("#start").fill("2026-04-01")
    page.locator("#end").fill("2026-04-01")
    page.locator("#period-dates button[type=submit]").click()
    page.wait_for_url(re.compile(r"start=2026-04-01&end=2026-04-01"))

    assert page.locator("#annual-text").text_content() == (
        "Services d'urgence (avec bascule)* : 1\n"
        "  1 911\n"
        "Services d'urgence (sans bascule)* : 0\n" + FOOTNOTE
    )
    assert page_errors(page) == []


def download(page: Page, link: str, tmp_path: Path) -> str:
    with page.expect_download() as info:
        page.locator(link).click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte order mark (Excel)"
    return data.decode("utf-8-sig")


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_csv_exports_from_the_page(page: Page, seeded: Dashboard, tmp_path: Path) -> None:
    log_in(page, seeded.users["manager"])
    show_fiscal_year(page, 2025)

    counts = download(page, "#export-counts", tmp_path)
    assert rows(counts) == COUNTS_2025
    assert not any(number in counts for number in CALLER_NUMBERS)

    records = download(page, "#export-records", tmp_path)
    table = rows(records)
    header, data = table[0], table[1:]
    assert "caller_number" not in header
    assert len(data) == 14  # fiscal year 2025 only
    by_column = [dict(zip(header, row, strict=True)) for row in data]
    assert {r["exercice"] for r in by_column} == {"2025"}
    assert sorted(r["linkedid"] for r in by_column) == sorted(f.linkedid for f in FACTS[:-1])
    assert [r["date_locale"] for r in by_column][:4] == ["2025-04-01"] * 4
    assert {r["navigateur"] for r in by_column} == {"nav-xfer"}
    assert not any(number in records for number in CALLER_NUMBERS)
    assert page_errors(page) == []
