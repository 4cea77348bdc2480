"""The console and the wallboard with the keyboard alone: Tab reaches every control in
the order of the page, each shows where the focus is, and Enter on the console's 911
button transfers the caller as a click does (the real listener sends ``Atxfer`` to the
fake Asterisk replaying 2f2)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    NAV_ENDPOINT,
    TRANSFER_CONTEXT,
    UI_TIMEOUT_MS,
    Dashboard,
    LiveLine,
    log_in,
    page_errors,
)
from tests.browser.test_console import WARM_911

pytestmark = pytest.mark.browser

#: A bound on the Tab presses a page needs (a page with more controls fails loudly).
MAX_TABS = 80

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
    || s.boxShadow !== 'none';
  return {tag: e.tagName, id: e.id, text: (e.textContent || e.value || '').trim().slice(0, 60),
          visible: shown};
}"""


def tab_until(page: Page, selector: str) -> list[dict[str, object]]:
    """Press Tab from the top of the page until ``selector`` has the focus; return what
    had the focus on the way (the last one is ``selector``'s element)."""
    page.locator("body").focus()
    seen: list[dict[str, object]] = []
    target = page.locator(selector)
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is not None:
            seen.append(focused)
        if target.evaluate("e => e === document.activeElement"):
            return seen
    pytest.fail(f"{selector} not reached in {MAX_TABS} Tab presses: {seen}")


def every_focus_stop(page: Page) -> list[dict[str, object]]:
    """Tab through the whole page once (until the focus comes back to the first stop)."""
    page.locator("body").focus()
    stops: list[dict[str, object]] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or (stops and focused == stops[0]):
            break
        stops.append(focused)
    return stops


def test_a_navigator_transfers_to_911_with_the_keyboard_alone(
    page: Page, dashboard: Dashboard, live_line: LiveLine
) -> None:
    log_in(page, dashboard.users["navigator"])
    expect(page.locator(WARM_911)).to_be_enabled()
    path = tab_until(page, WARM_911)
    assert all(stop["visible"] for stop in path), [s for s in path if not s["visible"]]
    answered = live_line.answer_atxfer()
    page.keyboard.press("Enter")
    expect(page.locator("#console-result")).to_contain_text("Urgence 911", timeout=UI_TIMEOUT_MS)
    answered.result(UI_TIMEOUT_MS / 1000)
    atxfers = live_line.actions("Atxfer")
    assert [(a["Channel"].split("-0")[0], a["Exten"], a["Context"]) for a in atxfers] == [
        (NAV_ENDPOINT, "911", TRANSFER_CONTEXT)
    ]
    assert page_errors(page) == []


@pytest.mark.parametrize("role", ["manager", "navigator"])
def test_the_wallboard_controls_are_reached_and_shown_with_the_keyboard(
    page: Page, dashboard: Dashboard, role: str
) -> None:
    log_in(page, dashboard.users[role])
    page.goto("/wallboard/")
    page.wait_for_load_state("networkidle")
    stops = every_focus_stop(page)
    controls = page.locator("a[href], button:not([disabled]), select, input:not([type=hidden])")
    assert len(stops) >= min(controls.count(), MAX_TABS - 1) > 0
    assert [s for s in stops if not s["visible"]] == []
    assert page_errors(page) == []
