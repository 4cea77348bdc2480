"""How the pages look: screenshots of the reports and of the console (saved in tmp_path for
a person to look at), with what a script can check about them: the stylesheets and
scripts load (nothing refused by the Content-Security-Policy), the charts are drawn,
the caller's number is shown to the navigator and the buttons fit the window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy.orm import Session

from store.transfers import record_facts
from tests.browser.conftest import Dashboard, LiveLine, log_in, page_errors
from tests.browser.test_reports import FACTS

pytestmark = pytest.mark.browser

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def styled(page: Page) -> bool:
    """The dashboard's stylesheet applies (the body is not the browser's default)."""
    margin: str = page.evaluate("getComputedStyle(document.body).margin")
    font: str = page.evaluate("getComputedStyle(document.body).fontFamily")
    return margin != "8px" or "Times" not in font


def overflowing(page: Page, selector: str) -> list[str]:
    """Texts of the elements that stick out of the window on the right."""
    found: list[str] = page.eval_on_selector_all(
        selector,
        "(els) => els.filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".map(e => e.textContent.trim())",
    )
    return found


def test_reports_and_console_screenshots(
    open_page: Callable[[], Page], dashboard: Dashboard, live_line: LiveLine, tmp_path: Path
) -> None:
    with Session(dashboard.engine) as session, session.begin():
        record_facts(session, FACTS)

    manager = open_page()
    manager.set_viewport_size(VIEWPORT)
    log_in(manager, dashboard.users["manager"])
    manager.goto("/reports/?fy=2025")
    expect(manager.locator("#chart-monthly")).to_be_visible()
    expect(manager.locator("#chart-hourly")).to_be_visible()
    manager.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
    assert styled(manager)
    assert overflowing(manager, "main button, main table") == []
    assert page_errors(manager) == []

    navigator = open_page()
    navigator.set_viewport_size(VIEWPORT)
    log_in(navigator, dashboard.users["navigator"])
    expect(navigator.locator("#caller-number")).to_have_text("514 555-0123")
    navigator.screenshot(path=str(tmp_path / "console.png"), full_page=True)
    assert styled(navigator)
    assert overflowing(navigator, "#console button") == []
    assert page_errors(navigator) == []

    for name in ("reports.png", "console.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
