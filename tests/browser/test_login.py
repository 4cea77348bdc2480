"""Logging in and out through the real form, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Dashboard, log_in, page_errors

pytestmark = pytest.mark.browser


def test_manager_logs_in_sees_the_reports_and_logs_out(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.users["manager"])

    assert re.search(r"/reports/$", page.url), page.url
    expect(page.locator("h1")).to_have_text("Rapports")
    expect(page.locator("#current-user")).to_contain_text("Manager Test")
    expect(page.locator("#annual-text")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ivr211_session"]["httpOnly"] is True

    page.locator("form[action='/logout'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/login"), page.url
    expect(page.locator(".flash-info")).to_have_text("Vous êtes déconnecté.")
    expect(page.locator("#current-user")).to_have_count(0)

    page.goto("/reports/")
    assert "/login" in page.url, page.url
    expect(page.locator("#annual-text")).to_have_count(0)
    assert page_errors(page) == []


def test_wrong_password_shows_the_error_and_no_page(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.users["manager"], "pas le bon mot de passe du tout")

    assert page.url.endswith("/login"), page.url
    expect(page.locator(".flash-error")).to_have_text(
        "Nom d'utilisateur ou mot de passe incorrect."
    )
    expect(page.locator("#current-user")).to_have_count(0)
    expect(page.locator("#password")).to_have_value("")
    page.goto("/reports/")
    assert "/login" in page.url, page.url
    expect(page.locator("#counts")).to_have_count(0)
    assert page_errors(page) == []
