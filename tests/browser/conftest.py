"""Browser tests: headless Chromium (Debian's) driven by Playwright's sync API against the
real dashboard served by waitress, and, for the console, the real listener talking to a
fake Asterisk that replays recorded bytes.

- ``browser``: Chromium, launched once for the tests of this folder. Playwright's sync API
  keeps an event loop running in the main thread while it is open, so it is closed when
  the last browser test is done (package scope): the other tests' ``asyncio.run`` would
  fail under it. It never downloads a browser: ``/usr/bin/chromium`` comes from Debian
  (``make test`` installs it when missing).
- ``dashboard``: ``create_app`` on a fresh SQLite database in ``tmp_path`` (migrated,
  seeded with the packaged line settings), one user per role created with the functions
  ``ivr211 user add`` and ``ivr211 navigator add`` use, served by waitress on 127.0.0.1
  and an ephemeral port from a background thread; stopped after the test.
- ``open_page()``: a page in a new browser context (its own cookies); ``page`` is one.
  Every page records the browser console's errors and uncaught script errors in
  ``page_errors(page)``: a refused script (CSP) or a broken one shows there.
- ``live_line``: the listener (``ListenerService``) and a ``FakeAmi`` on one event loop in
  a background thread; the fake has replayed ``2f2-queue-then-warm-transfer`` up to the
  moment the navigator has the queued caller on the line (the navigator's keys are
  next), so the console shows the call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from waitress import wasyncore
from waitress.server import create_server

from dashboard import create_app
from ivr211.config import DEFAULT_SEED, Config
from ivr211.dashboard_options import dashboard_options
from listener.actions import ActionOptions
from listener.ami import LinkOptions
from listener.service import ListenerOptions, ListenerService
from listener.transcripts import Chunk, read_raw
from store import accounts
from store.db import make_engine, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.live import read_live
from store.navigators import add_navigator
from tests.listener.fake_ami import FIXTURES, FakeAmi, recorded_reply

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: How long a page may take to show what a test waits for (a bound, not a measure).
UI_TIMEOUT_MS = 15_000
PASSWORD = "un mot de passe de test assez long"
ROLES = accounts.ROLES
#: The navigator of the recording 2f2: its phone and its queue member interface.
NAV_USERNAME = "nav-xfer"
NAV_ENDPOINT = "Local/nav-dtmf-atxfer@navigators"
NAV_INTERFACE = "Local/nav-dtmf-atxfer@navigators/n"
#: The transfer context of the lab's dialplan (the recordings dial 911@emergency-services).
TRANSFER_CONTEXT = "emergency-services"
RECORDING_2F2 = FIXTURES / "raw" / "2f2-queue-then-warm-transfer.raw"

_T = TypeVar("_T")


# ---- Chromium -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: run `make test`, which installs Debian's chromium and"
            " chromium-driver (tools/install-system-deps.sh); never `playwright install`",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


_ERRORS_ATTR = "_ivr211_errors"


def page_errors(page: Page) -> list[str]:
    """The console errors and uncaught exceptions the page has had so far."""
    errors: list[str] = getattr(page, _ERRORS_ATTR)
    return errors


@pytest.fixture
def open_page(browser: Browser, dashboard: Dashboard) -> Iterator[Callable[[], Page]]:
    contexts: list[BrowserContext] = []

    def open_one() -> Page:
        context = browser.new_context(base_url=dashboard.url, locale="fr-CA")
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        setattr(page, _ERRORS_ATTR, errors)

        def on_console(message: ConsoleMessage) -> None:
            url = str(message.location.get("url", ""))
            if message.type == "error":
                errors.append(f"console: {message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"script: {exc}"))
        return page

    try:
        yield open_one
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(open_page: Callable[[], Page]) -> Page:
    return open_page()


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill and send the login form, as a person does."""
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form.stacked button[type=submit]").click()
    page.wait_for_load_state()


# ---- the dashboard, served --------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    url: str
    engine: Engine
    config: Config
    users: Mapping[str, str]  # role -> username
    navigator_id: int


class _Server:
    """waitress on 127.0.0.1:0, its loop turned in a thread until :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        self.server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="ivr211")
        self.port: int = self.server.effective_port
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="waitress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        socket_map = self.server._map
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.05, map=socket_map, count=1)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "waitress did not stop"
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.server._map)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Dashboard]:
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
            "dashboard": {
                "host": "127.0.0.1",
                "allow_plain_http": True,  # loopback only; the browser speaks plain HTTP
                "instance_path": str(tmp_path / "instance"),
                "generated_secret_path": str(tmp_path / "dashboard-secret"),
            },
            "line": {"settings_cache_s": 0},
        }
    )
    engine = make_engine(config.database.url)
    try:
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        users: dict[str, str] = {}
        with Session(engine) as session, session.begin():
            nav = add_navigator(
                session, NAV_USERNAME, "Navigatrice Xfer", NAV_ENDPOINT, NAV_INTERFACE
            )
            navigator_id = nav.id
            for role in ROLES:
                user = accounts.create_user(
                    session,
                    f"{role}-test",
                    PASSWORD,
                    role,
                    display_name=f"{role.capitalize()} Test",
                    navigator_id=navigator_id if role == "navigator" else None,
                )
                users[role] = user.username
        server = _Server(create_app(dashboard_options(config), engine=engine))
        try:
            yield Dashboard(f"http://127.0.0.1:{server.port}", engine, config, users, navigator_id)
        finally:
            server.stop()
    finally:
        engine.dispose()


# ---- the listener and a fake Asterisk ----------------------------------------------------


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout_s`` (a bound)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class _LoopThread:
    """An asyncio loop in its own thread (the main thread's belongs to Playwright)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ami", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T], timeout_s: float = 15.0) -> _T:
        return self.submit(coro).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def split_2f2() -> tuple[list[Chunk], list[Chunk]]:
    """2f2 cut where the navigator starts the transfer: ``head`` ends with the caller and
    the navigator bridged (AgentConnect, BridgeEnter, the hold music of the caller's
    phone); ``tail`` is what Asterisk sent from the transfer's first ``DTMFEnd`` to the
    last Hangup, before the lab driver's own snapshot actions. An AMI ``Atxfer`` makes
    Asterisk play the same feature code on the navigator's leg (``2a1``: ``DTMFEnd
    Digit=*`` right after ``Atxfer successfully queued``), so the tail is what follows
    an Atxfer on a queued call."""
    chunks = read_raw(RECORDING_2F2)
    cut = next(i for i, c in enumerate(chunks) if b"Event: DTMFEnd" in c.data)
    end = next(i for i in range(cut, len(chunks)) if chunks[i].direction == "SEND")
    return chunks[:cut], chunks[cut:end]


@dataclass
class LiveLine:
    """The running listener and the fake Asterisk it is connected to."""

    runner: _LoopThread
    fake: FakeAmi
    service: ListenerService
    task: Future[None]
    tail: list[Chunk] = field(default_factory=list)

    def answer_atxfer(self) -> Future[None]:
        """When the listener sends its Atxfer, replay what Asterisk sent then (``tail``)."""

        async def answer() -> None:
            await self.fake.wait_action("Atxfer", timeout_s=UI_TIMEOUT_MS / 1000)
            await self.fake.replay(self.tail)

        return self.runner.submit(answer())

    def actions(self, name: str) -> list[dict[str, str]]:
        async def read() -> list[dict[str, str]]:
            return self.fake.actions(name)

        return self.runner.run(read())


def navigator_on_call(engine: Engine, interface: str) -> bool:
    with Session(engine) as session:
        view = read_live(session, stale_after_s=None)
    return any(m.interface == interface and m.on_call for m in view.members)


@pytest.fixture
def live_line(dashboard: Dashboard, tmp_path: Path) -> Iterator[LiveLine]:
    head, tail = split_2f2()
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
            wait_for(lambda: _synced(dashboard.engine), "the listener's resync (QueueStatus of 2f)")
            runner.run(fake.replay(head))
            wait_for(
                lambda: navigator_on_call(dashboard.engine, NAV_INTERFACE),
                "the navigator on a call in the live tables",
            )
            yield LiveLine(runner, fake, service, task, tail)
        finally:
            runner.loop.call_soon_threadsafe(service.stop)
            task.result(30)
            runner.run(fake.close())
    finally:
        runner.close()


def _synced(engine: Engine) -> bool:
    with Session(engine) as session:
        view = read_live(session, stale_after_s=None)
    return view.known and view.synced
