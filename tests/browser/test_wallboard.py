"""The wallboard in Chromium, end to end: a fake Asterisk replays what the lab's Asterisk
sent (2f's QueueStatus, then 2f2's QueueCallerJoin and the answer), the real listener
writes its live tables, and the open page follows without being reloaded; when the link
drops, the page says so and shows no figures. axe-core checks the page in both states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from listener.actions import ActionOptions
from listener.ami import LinkOptions
from listener.service import ListenerOptions, ListenerService
from listener.transcripts import Chunk, read_raw
from store.linesettings import SettingsStore
from store.live import read_live
from tests.browser.conftest import (
    RECORDING_2F2,
    TRANSFER_CONTEXT,
    UI_TIMEOUT_MS,
    Dashboard,
    _LoopThread,
    log_in,
    page_errors,
    wait_for,
)
from tests.listener.fake_ami import FakeAmi, recorded_reply

pytestmark = pytest.mark.browser

WAIT_TEXT = re.compile(r"^\d+ s$|^\d+ min \d\d s$")
NUMBERS = (
    "waiting",
    "longest",
    "available",
    "on_call",
    "after_call_work",
    "paused",
    "received",
    "answered",
)


def split_at_join() -> tuple[list[Chunk], list[Chunk]]:
    """2f2 cut after the read that carries ``Event: QueueCallerJoin`` (the caller waits),
    and the next read (``QueueCallerLeave``: a navigator has the caller)."""
    chunks = read_raw(RECORDING_2F2)
    join = next(i for i, c in enumerate(chunks) if b"Event: QueueCallerJoin" in c.data)
    leave = next(i for i, c in enumerate(chunks) if b"Event: QueueCallerLeave" in c.data)
    assert b"Event: QueueCallerLeave" not in chunks[join].data
    return chunks[: join + 1], chunks[join + 1 : leave + 1]


@dataclass
class Line:
    runner: _LoopThread
    fake: FakeAmi
    service: ListenerService

    def replay(self, chunks: list[Chunk]) -> None:
        self.runner.run(self.fake.replay(chunks))

    def cut(self) -> None:
        """Asterisk goes away: the connection closes and new ones are refused."""

        async def cut() -> None:
            await self.fake.stop_listening()
            await self.fake.drop()

        self.runner.run(cut())


def _live(engine: Engine) -> tuple[bool, bool, int]:
    with Session(engine) as session:
        view = read_live(session, stale_after_s=None)
    return view.known, view.synced, len(view.waiting)


@pytest.fixture
def line(dashboard: Dashboard, tmp_path: Path) -> Iterator[Line]:
    """The real listener logged in to a fake Asterisk that answered its QueueStatus as
    the lab's did in 2f (two navigators, one paused); nothing replayed yet."""
    runner = _LoopThread()
    store = SettingsStore(dashboard.engine)

    async def start() -> tuple[FakeAmi, ListenerService]:
        fake = FakeAmi()
        fake.replies["QueueStatus"] = recorded_reply("2f-queue", "QueueStatus")
        await fake.start()
        service = ListenerService(
            dashboard.engine,
            LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05),
            store.load,
            ListenerOptions(
                spool_path=tmp_path / "listener-spool.jsonl",
                poll_s=0.05,
                live_write_s=0.1,
                actions=ActionOptions(transfer_context=TRANSFER_CONTEXT),
            ),
        )
        return fake, service

    try:
        fake, service = runner.run(start())

        async def run_service() -> None:
            await service.run()

        task = runner.submit(run_service())
        try:
            runner.run(service.link.wait_connected(5))
            wait_for(lambda: _live(dashboard.engine)[:2] == (True, True), "the listener's resync")
            yield Line(runner, fake, service)
        finally:
            runner.loop.call_soon_threadsafe(service.stop)
            task.result(30)
            runner.run(fake.close())
    finally:
        runner.close()


def field(name: str) -> str:
    return f"#wallboard [data-field={name}]"


def axe_violations(page: Page) -> str:
    """axe-core's violations on the page, one line each (empty when none)."""
    results = Axe().run(page)
    return str(results.generate_snapshot())


def test_the_wallboard_follows_the_queue_and_says_when_the_link_is_down(
    page: Page, dashboard: Dashboard, line: Line, tmp_path: Path
) -> None:
    waiting_head, answered = split_at_join()
    page.set_viewport_size({"width": 1920, "height": 1080})
    log_in(page, dashboard.users["manager"])
    page.locator(".main-nav a", has_text="Tableau mural").click()
    page.wait_for_load_state()
    assert page.url.endswith("/wallboard/"), page.url
    status = page.locator("#wb-status")
    expect(status).to_have_text("En direct", timeout=UI_TIMEOUT_MS)
    expect(page.locator(field("waiting"))).to_have_text("0", timeout=UI_TIMEOUT_MS)
    table = page.locator("#wb-navigators tbody")
    expect(table.locator("tr", has_text="Navigator One")).to_contain_text(
        "Disponible", timeout=UI_TIMEOUT_MS
    )
    expect(table.locator("tr", has_text="Navigator Two")).to_contain_text(
        "En pause (break)", timeout=UI_TIMEOUT_MS
    )
    assert axe_violations(page) == ""

    # Asterisk: QueueCallerJoin. The page is not reloaded: the same document updates.
    page.evaluate("window.__sameDocument = true")
    line.replay(waiting_head)
    wait_for(lambda: _live(dashboard.engine)[2] == 1, "the caller in the live tables")
    expect(page.locator(field("waiting"))).to_have_text("1", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wb-callers li")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(page.locator(field("longest"))).to_have_text(WAIT_TEXT, timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(tmp_path / "wallboard-waiting.png"))

    # QueueCallerLeave: a navigator took the call
    line.replay(answered)
    expect(page.locator(field("waiting"))).to_have_text("0", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wb-callers li")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page.locator(field("on_call"))).to_have_text("1", timeout=UI_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True

    # the link drops: the page says so, in words, and shows no figure
    line.cut()
    expect(status).to_have_text(
        "Le lien avec le système téléphonique est coupé : les appels en attente, les "
        "navigateurs et les chiffres du jour ne peuvent pas être affichés.",
        timeout=UI_TIMEOUT_MS,
    )
    for name in NUMBERS:
        expect(page.locator(field(name))).to_have_text("–", timeout=UI_TIMEOUT_MS)
    expect(table.locator("tr")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    assert "AMI" not in page.locator("main").inner_text()
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(tmp_path / "wallboard-down.png"))
    assert axe_violations(page) == ""
    assert page_errors(page) == []


def test_when_the_server_stops_answering_the_figures_are_no_longer_shown(
    page: Page, dashboard: Dashboard, line: Line
) -> None:
    """A network cut between the screen and the dashboard (the requests fail): after a
    few seconds without an answer the page says its figures are not current and clears
    them; when answers come back, so do the figures."""
    log_in(page, dashboard.users["navigator"])
    page.goto("/wallboard/")
    status = page.locator("#wb-status")
    expect(status).to_have_text("En direct", timeout=UI_TIMEOUT_MS)
    expect(page.locator(field("available"))).to_have_text("1", timeout=UI_TIMEOUT_MS)

    page.route("**/wallboard/state.json", lambda route: route.abort("internetdisconnected"))
    expect(status).to_have_text(
        "Cette page ne reçoit plus de nouvelles du serveur : les chiffres ne sont pas à jour.",
        timeout=UI_TIMEOUT_MS,
    )
    for name in NUMBERS:
        expect(page.locator(field(name))).to_have_text("–", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#wb-navigators tbody tr")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    page.unroute("**/wallboard/state.json")
    expect(status).to_have_text("En direct", timeout=UI_TIMEOUT_MS)
    expect(page.locator(field("available"))).to_have_text("1", timeout=UI_TIMEOUT_MS)
