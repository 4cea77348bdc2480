"""The calls page in Chromium, in French and English: reached from the reports' menu,
its figures and the LANGUES block, the weekday x hour table, a CSV download; axe-core
finds nothing to fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from store.calls import CallFact, CallSource, QueueOutcome, record_calls
from tests.browser.conftest import Dashboard, log_in, page_errors

pytestmark = pytest.mark.browser

START = datetime(2026, 9, 15, 14, 0, tzinfo=UTC)  # 10:00 in Montréal, fiscal 2026


@pytest.fixture
def seeded(dashboard: Dashboard) -> Dashboard:
    facts = []
    for n, (language, outcome, wait) in enumerate(
        [
            ("fr", QueueOutcome.ANSWERED, 12.0),
            ("fr", QueueOutcome.ANSWERED, 50.0),
            ("en", QueueOutcome.ANSWERED, 9.0),
            ("fr", QueueOutcome.ABANDONED, 30.0),
        ]
    ):
        at = START + timedelta(minutes=5 * n)
        facts += [
            CallFact(f"b.{n}", at, CallSource.FLOW, line_state="hours", language=language,
                     path=f"open/lang:{language}/main:1", route="queue"),
            CallFact(f"b.{n}", at + timedelta(seconds=15), CallSource.AMI, queue_outcome=outcome,
                     wait_s=wait, talk_s=200.0 if outcome == "answered" else None),
        ]  # fmt: skip
    with Session(dashboard.engine) as session, session.begin():
        record_calls(session, facts)
    return dashboard


def axe_violations(page: Page) -> str:
    return str(Axe().run(page).generate_snapshot())


def test_the_calls_page_in_french_and_english(
    page: Page, seeded: Dashboard, tmp_path: Path
) -> None:
    log_in(page, seeded.users["manager"])
    page.goto("/reports/?fy=2026")
    page.locator(".report-nav a", has_text="Appels").click()
    page.wait_for_url("**/reports/calls/**")
    expect(page.locator("h1")).to_have_text("Appels")
    received = page.locator('#call-summary tr[data-figure="received"] td')
    expect(received).to_have_text("4")
    expect(page.locator('#call-summary tr[data-figure="answered"] td')).to_have_text("3")
    expect(page.locator("#langues-text")).to_contain_text("66,67\u00a0% Français")
    expect(page.locator("#blocked-note")).to_contain_text("fournisseur de téléphonie")
    expect(page.locator("#heat tbody tr").nth(10)).to_contain_text("4")  # 10 h, a Tuesday
    assert axe_violations(page) == ""
    with page.expect_download() as download:
        page.locator("#export-summary").click()
    path = tmp_path / "summary.csv"
    download.value.save_as(path)
    assert path.read_text(encoding="utf-8-sig").startswith("indicateur;valeur")

    page.locator("button[name=language][value=en]").click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Calls")
    expect(page.locator('#call-summary tr[data-figure="received"] th')).to_have_text(
        "Calls received"
    )
    assert axe_violations(page) == ""
    assert page_errors(page) == []
