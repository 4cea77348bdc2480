"""The administrator's and the research team's pages in Chromium, in French and English:
the section tabs, the line's state card under the title, the one click that closes the
line and reopens it; axe-core finds no serious or critical violation on any of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from store.voicemail import VoiceMessage
from tests.browser.conftest import Dashboard, log_in, page_errors
from tests.dashboard.research_data import add_message

pytestmark = pytest.mark.browser

ADMIN_PAGES = (
    "/admin/",
    "/admin/hours",
    "/admin/holidays",
    "/admin/closures",
    "/admin/override",
    "/admin/destinations",
    "/admin/line",
    "/admin/consent",
    "/admin/users",
    "/admin/users/manager-test",
    "/admin/audit/",
)


def serious(page: Page) -> list[str]:
    """The axe-core violations of impact serious or critical, with where they are."""
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in ("serious", "critical"):
            targets = [str(node.get("target")) for node in violation.get("nodes", [])][:3]
            found.append(f"{page.url}: {violation['id']} {targets}")
    return found


def switch_language(page: Page, language: str) -> None:
    button = page.locator(f"button[name=language][value={language}]")
    if button.count():
        button.click()
        page.wait_for_load_state()


@pytest.fixture
def with_message(dashboard: Dashboard, tmp_path: Path) -> Iterator[int]:
    message_id, _audio = add_message(
        dashboard.engine, tmp_path / "storage", callback_number="4185550177"
    )
    with Session(dashboard.engine) as session, session.begin():
        row = session.get(VoiceMessage, message_id)
        assert row is not None
        row.caller_name = "TREMBLAY MARIE"
    yield message_id


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_admin_page_has_tabs_a_state_card_and_passes_axe(
    page: Page, dashboard: Dashboard, language: str
) -> None:
    log_in(page, dashboard.users["admin"])
    page.goto("/admin/")
    switch_language(page, language)
    found: list[str] = []
    for url in ADMIN_PAGES:
        page.goto(url)
        expect(page.locator("nav.section-tabs a[aria-current=page]")).to_have_count(1)
        expect(page.locator("#line-state-now")).to_be_visible()
        found += serious(page)
    assert found == []
    assert page_errors(page) == []


def test_close_the_line_now_and_reopen_it_in_one_click(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.users["admin"])
    page.goto("/admin/hours")
    page.locator("#line-now-reason").fill("Panne de courant")
    page.locator("#line-now-form button[type=submit]").click()
    page.wait_for_url("**/admin/hours")
    expect(page.locator("#line-state-now strong")).to_have_text("Fermée")
    expect(page.locator("#header-line-state")).to_contain_text("Ligne fermée")
    page.locator("#line-now-form button[type=submit]", has_text="Rouvrir").click()
    page.wait_for_url("**/admin/hours")
    expect(page.locator("#line-now-form button[type=submit]")).to_have_text(
        "Fermer la ligne maintenant"
    )
    assert page_errors(page) == []


@pytest.mark.parametrize(
    ("language", "callback_header", "name"),
    [("fr", "Numéro de rappel", "TREMBLAY MARIE"), ("en", "Callback number", "TREMBLAY MARIE")],
)
def test_the_research_pages_in_both_languages(
    page: Page,
    dashboard: Dashboard,
    with_message: int,
    language: str,
    callback_header: str,
    name: str,
) -> None:
    log_in(page, dashboard.users["research"])
    page.goto("/research/")
    switch_language(page, language)
    expect(page.locator("nav.section-tabs a[aria-current=page]")).to_have_count(1)
    expect(page.locator("#line-state-now")).to_be_visible()
    row = page.locator(f"#message-{with_message}")
    expect(row.locator("td.callback")).to_have_text("418 555-0177")
    expect(row.locator(".caller-name")).to_have_text(name)
    expect(page.locator("#research-messages thead")).to_contain_text(callback_header)
    found = serious(page)
    row.locator("a").click()
    page.wait_for_url(f"**/research/messages/{with_message}")
    expect(page.locator("#message-caller-name")).to_have_text(name)
    found += serious(page)
    page.locator("#research-accounts-link").click()
    page.wait_for_url("**/research/accounts")
    found += serious(page)
    assert found == []
    assert page_errors(page) == []
