"""Disabled buttons stay readable: axe-core's color-contrast on the console with every
button disabled (no link with the phone system: nothing can be sent), in both languages.

axe-core leaves disabled controls out of its contrast check (WCAG exempts them), so the
test first makes each disabled button an ordinary one that looks exactly the same: the
colours, opacity and filter Chromium computed for it are written inline, then the
``disabled`` attribute is removed. What axe measures is what the navigator sees.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.conftest import Dashboard, log_in, page_errors

pytestmark = pytest.mark.browser

#: Returns how many buttons it changed.
AS_SEEN = """() => {
  const kept = ["color", "background-color", "background-image", "border-color",
                "opacity", "filter", "font-size", "font-weight"];
  const buttons = [...document.querySelectorAll("main button:disabled")];
  const seen = buttons.map((b) => {
    const style = getComputedStyle(b);
    return kept.map((name) => [name, style.getPropertyValue(name)]);
  });
  buttons.forEach((b, i) => {
    b.disabled = false;
    b.setAttribute("data-was-disabled", "");
    for (const [name, value] of seen[i]) { b.style.setProperty(name, value, "important"); }
  });
  return buttons.length;
}"""


def contrast_of_disabled_buttons(page: Page) -> tuple[int, str]:
    changed = page.evaluate(AS_SEEN)
    results = Axe().run(
        page,
        context={"include": [["[data-was-disabled]"]]},
        options={"runOnly": ["color-contrast"], "resultTypes": ["violations"]},
    )
    return int(changed), str(results.generate_report()) if results.violations_count else ""


@pytest.mark.parametrize("language", ["fr", "en"])
def test_disabled_buttons_are_readable(page: Page, dashboard: Dashboard, language: str) -> None:
    log_in(page, dashboard.users["navigator"])
    assert page.url.endswith("/console/"), page.url
    if language == "en":
        page.locator("button[name=language][value=en]").click()
        page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", language)
    disabled = page.locator("main button:disabled")
    expect(disabled.first).to_be_disabled()
    count = disabled.count()
    assert count >= 5  # the transfers, the referrals, cancel, the queue's buttons
    changed, violations = contrast_of_disabled_buttons(page)
    assert changed == count
    assert violations == ""
    assert page_errors(page) == []
