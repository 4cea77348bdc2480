"""The navigator's console in Chromium, end to end: the page -> the command table -> the
real listener -> ``Action: Atxfer`` to a fake Asterisk, which answers with what the lab's
Asterisk sent (2a1's Atxfer reply, then 2f2's events), -> the result on the page. And on
a centre on Twilio only: presence on the Twilio line from the same buttons, done at once,
the page passing axe-core in French and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.dashboard_options import dashboard_options
from store import models as m
from store.heartbeats import beat
from store.navigators import set_twilio_address
from store.twilio_presence import RUNNER_HEARTBEAT
from tests.browser.conftest import (
    NAV_ENDPOINT,
    NAV_USERNAME,
    TRANSFER_CONTEXT,
    UI_TIMEOUT_MS,
    Dashboard,
    LiveLine,
    _Server,
    log_in,
    page_errors,
    wait_for,
)
from tests.browser.test_every_page import serious_violations, technical_words

pytestmark = pytest.mark.browser

#: The caller and the navigator's leg in 2f2 (the recording the fake Asterisk replays).
CALLER_NUMBER = "514 555-0123"  # 5145550123, grouped for reading
NAVIGATOR_LEG = f"{NAV_ENDPOINT}-00000046;1"
WARM_911 = "#console-transfer form:has(input[name=destination][value='911']) button"


def transfer_records(dashboard: Dashboard) -> list[m.TransferRecord]:
    with Session(dashboard.engine) as session:
        return list(session.scalars(select(m.TransferRecord)))


def test_warm_transfer_to_911_in_one_click(
    page: Page, dashboard: Dashboard, live_line: LiveLine
) -> None:
    log_in(page, dashboard.users["navigator"])
    assert page.url.endswith("/console/"), page.url
    expect(page.locator("#console-presence [data-field=presence]")).to_have_text("En appel")
    expect(page.locator("#caller-number")).to_have_text(CALLER_NUMBER)
    expect(page.locator("#console-link-down")).to_have_count(0)
    button = page.locator(WARM_911)
    expect(button).to_have_text("Urgence 911 (police, pompiers, ambulance)")
    expect(button).to_be_enabled()

    answered = live_line.answer_atxfer()
    button.click()

    result = page.locator("#console-result")
    expect(result).to_have_text(
        "Appel de Urgence 911 (police, pompiers, ambulance) en cours; l'appelant est en attente.",
        timeout=UI_TIMEOUT_MS,
    )
    expect(result).to_have_class(re.compile(r"\bflash-ok\b"))
    answered.result(UI_TIMEOUT_MS / 1000)

    atxfers = live_line.actions("Atxfer")
    assert [(a["Channel"], a["Exten"], a["Context"]) for a in atxfers] == [
        (NAVIGATOR_LEG, "911", TRANSFER_CONTEXT)
    ]
    # the rest of 2f2: the navigator hangs up, the caller stays with 911 (AttendedTransfer)
    wait_for(lambda: len(transfer_records(dashboard)) == 1, "the transfer record")
    (record,) = transfer_records(dashboard)
    assert (record.destination, record.kind, record.outcome) == ("911", "attended", "completed")
    assert record.navigator_id == dashboard.navigator_id
    # the page follows: no call any more, so no transfer button to press (polled refresh)
    expect(page.locator("#console-call")).to_contain_text("Aucun appel.")
    expect(button).to_be_disabled()
    expect(result).to_have_text(re.compile(r"^Appel de Urgence 911 "))
    assert page_errors(page) == []


# ---- the console on a centre on Twilio only ---------------------------------------------


@pytest.fixture
def twilio_console(dashboard: Dashboard) -> Iterator[str]:
    """The same database served with ``[twilio] enabled`` and no AMI secret (no listener
    on such a centre); the navigator has a Twilio phone and the Twilio runner is alive."""
    now = datetime.now(UTC)
    with Session(dashboard.engine) as session, session.begin():
        set_twilio_address(session, NAV_USERNAME, "+14185550101")
        beat(session, RUNNER_HEARTBEAT, now, now + timedelta(hours=1))  # fresh all test long
    options = replace(
        dashboard_options(dashboard.config), twilio_enabled=True, ami_configured=False
    )
    server = _Server(create_app(options, engine=dashboard.engine))
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_presence_on_twilio_and_the_page_passes_axe_in_both_languages(
    browser: Browser, dashboard: Dashboard, twilio_console: str
) -> None:
    context = browser.new_context(base_url=twilio_console, locale="fr-CA")
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"script: {exc}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        log_in(page, dashboard.users["navigator"])
        assert page.url.endswith("/console/"), page.url
        expect(page.locator("#console-link-down")).to_have_count(0)  # no listener expected
        expect(page.locator("#twilio-presence")).to_have_text(
            "Ligne Twilio : Déconnecté de la file"
        )
        expect(page.locator("#twilio-take-why")).to_have_text(
            "Connectez-vous à la file avant de prendre un appel."
        )
        page.locator("#console-presence button", has_text="Se connecter à la file").click()
        result = page.locator("#console-result")
        expect(result).to_have_text("Vous êtes connecté à la file d'attente.")
        expect(result).to_have_class(re.compile(r"\bflash-ok\b"))
        expect(page.locator("#console-presence [data-field=presence]")).to_have_text("Disponible")
        take = page.locator("#console-twilio button", has_text="Prendre l'appel suivant")
        expect(take).to_be_enabled()

        page.locator("#console-presence button", has_text="Pause").click()
        expect(result).to_have_text("Vous êtes en pause.")
        expect(page.locator("#console-presence [data-field=presence]")).to_have_text("En pause")
        expect(take).to_be_disabled()
        expect(page.locator("#twilio-take-why")).to_have_text(
            "Vous êtes en pause : reprenez avant de prendre un appel."
        )
        page.wait_for_load_state("networkidle")
        assert serious_violations(page) == []

        page.locator("button[name=language][value=en]").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator("#twilio-presence")).to_have_text("Twilio line: Paused")
        expect(page.locator("#twilio-take-why")).to_have_text(
            "You are paused: resume before taking a call."
        )
        assert serious_violations(page) == []
        page.locator("#console-presence button", has_text="Resume").click()
        expect(result).to_have_text(re.compile(r"\S"))
        expect(page.locator("#console-presence [data-field=presence]")).to_have_text("Available")
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_status_page_with_twilio_passes_axe_in_plain_words(
    browser: Browser, dashboard: Dashboard, twilio_console: str, language: str
) -> None:
    context = browser.new_context(base_url=twilio_console, locale="fr-CA")
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        log_in(page, dashboard.users["manager"])
        if language == "en":
            page.locator("button[name=language][value=en]").click()
            page.wait_for_load_state()
        page.goto("/status")
        page.wait_for_load_state("networkidle")
        tile = page.locator("#status-twilio")
        expect(tile).to_contain_text("receiving calls" if language == "en" else "reçoit les appels")
        text = page.locator("body").inner_text()
        assert technical_words(text) == []
        assert not re.search(r"webhook|runner|twilio-console|\bSID\b", text, re.IGNORECASE)
        assert serious_violations(page) == []
    finally:
        context.close()
