"""The navigator's console in Chromium, end to end: the page -> the command table -> the
real listener -> ``Action: Atxfer`` to a fake Asterisk, which answers with what the lab's
Asterisk sent (2a1's Atxfer reply, then 2f2's events), -> the result on the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import models as m
from tests.browser.conftest import (
    NAV_ENDPOINT,
    TRANSFER_CONTEXT,
    UI_TIMEOUT_MS,
    Dashboard,
    LiveLine,
    log_in,
    page_errors,
    wait_for,
)

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
