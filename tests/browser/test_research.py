"""The research inbox in headless Chromium: log in as research, open a message, play it
(the browser fetches the signed link with its own range requests: one "play" row), and
close it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from store.voicemail import VoiceMessage
from tests.browser.conftest import Dashboard, log_in, page_errors, wait_for
from tests.dashboard.research_data import add_message, audit_rows

#: Resolves ``[voicemail] storage_dir`` as the server does, relative to its working folder.
WORKDIR = "research-workdir"


@pytest.fixture
def storage(dashboard: Dashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workdir = tmp_path / WORKDIR
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return (workdir / dashboard.config.voicemail.storage_dir).resolve()


def test_research_plays_and_closes_a_message(
    dashboard: Dashboard, page: Page, storage: Path
) -> None:
    message_id, _audio = add_message(dashboard.engine, storage, callback_number="5815550199")
    log_in(page, dashboard.users["research"])
    row = page.locator(f"#message-{message_id}")
    assert "581 555-0199" in row.inner_text()
    row.locator("a").click()
    page.wait_for_load_state()

    audio = page.locator("#message-audio")
    assert audio.get_attribute("preload") == "none"
    assert [r[2] for r in audit_rows(dashboard.engine)] == ["list", "view"]
    audio.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function(
        "() => { const a = document.querySelector('#message-audio');"
        " return a.readyState >= 2 && a.duration > 0.9 && (a.currentTime > 0 || a.ended); }"
    )
    assert audio.evaluate("a => a.error") is None
    plays = [r for r in audit_rows(dashboard.engine) if r[2] == "play"]
    assert [(r[0], r[3]) for r in plays] == [
        (dashboard.users["research"], f"voice_message:{message_id}")
    ]

    page.locator("#status").select_option("closed")
    page.locator("#message-status-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#message-status").inner_text() == "Fermé"

    def closed() -> bool:
        with Session(dashboard.engine) as session:
            message = session.get(VoiceMessage, message_id)
            return message is not None and message.status == "closed"

    wait_for(closed, "the message closed in the database")
    with Session(dashboard.engine) as session:
        message = session.get(VoiceMessage, message_id)
        assert message is not None
        assert message.handled_by == dashboard.users["research"]
    assert [r[2] for r in audit_rows(dashboard.engine)].count("play") == 1
    assert page_errors(page) == []
