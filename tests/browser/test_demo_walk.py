"""The demonstration walked as each of its accounts, in Chromium, in French and English.

The database is the one ``ivr211 demo`` makes (``ivr211.demo.database.prepare``, a few
weeks of made-up calls, transfers, referrals and research messages, its demo accounts and
their passwords), served in demonstration mode (``demo_dashboard_options``). Each account
logs in and opens every page it can reach from the page menus (the main menu, the
sections' tabs, the reports' menu) and the first research message; each page must answer
200, carry the demonstration banner, have no serious or critical axe-core violation and,
for anyone but an administrator, show none of the technical words
(``test_every_page.technical_words``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from dashboard import create_app
from ivr211.cli.demo import demo_dashboard_options
from ivr211.config import DEFAULT_SEED, load_config
from ivr211.demo.database import DEMO_ACCOUNTS, prepare
from store.db import make_engine
from tests.browser.conftest import UI_TIMEOUT_MS, _Server, log_in
from tests.browser.test_every_page import NOT_PAGES, serious_violations, technical_words

pytestmark = pytest.mark.browser

LANGUAGES = ("fr", "en")
#: A few weeks are enough for every page to have something to show, and quick to make.
DAYS = 14
#: Links followed: the main menu, the sections' tabs, the reports' menu, and the line's
#: state in the header (it opens the status page). A page is opened once, whatever its
#: query (the reports' menu links carry the period shown).
MENU_LINKS = "nav.main-nav a, nav.section-tabs a, nav.report-nav a, a#header-line-state"
#: A bound on the pages one account walks (a menu that keeps making new links fails).
MAX_PAGES = 40


@dataclass(frozen=True)
class Demo:
    url: str
    passwords: dict[str, tuple[str, str]]  # role -> (user name, password)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("walk") / "demo"
    made = prepare(folder, seed_file=DEFAULT_SEED, days=DAYS)
    assert made.figures is not None and made.figures.research_messages > 0
    engine = make_engine(made.url)
    config = load_config(None, environ={})
    server = _Server(create_app(demo_dashboard_options(config, folder), engine=engine))
    try:
        yield Demo(
            f"http://127.0.0.1:{server.port}",
            {role: (username, password) for username, role, password in made.passwords},
        )
    finally:
        server.stop()
        engine.dispose()


def _menu_links(page: Page, origin: str) -> list[str]:
    """The same-site paths (with their query) the page's menus link to."""
    paths = []
    for href in page.locator(MENU_LINKS).evaluate_all("links => links.map(a => a.href)"):
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or NOT_PAGES.search(parts.path):
            continue
        paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return paths


def _check(page: Page, path: str, role: str, language: str) -> list[str]:
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    where = f"{path} as {role} ({language})"
    if response is None or response.status != 200:
        return [f"{where}: HTTP {response.status if response else '?'}"]
    problems = []
    if page.locator("html").get_attribute("lang") != language:
        problems.append(f"{where}: not in {language}")
    if page.locator("#demo-banner").count() != 1:
        problems.append(f"{where}: no demonstration banner")
    problems += [f"{where}: {v}" for v in serious_violations(page)]
    if role != "admin":
        words = technical_words(page.locator("body").inner_text())
        if words:
            problems.append(f"{where}: technical words {words}")
    return problems


def walk(page: Page, origin: str, role: str, language: str) -> tuple[list[str], list[str]]:
    """Every page reachable from the menus, from the home page; (paths, problems)."""
    page.goto("/")
    start = urlsplit(page.url)
    todo = [start.path + (f"?{start.query}" if start.query else "")]
    seen: list[str] = []
    problems: list[str] = []
    while todo:
        path = todo.pop(0)
        if path.split("?")[0] in {p.split("?")[0] for p in seen}:
            continue
        seen.append(path)
        assert len(seen) <= MAX_PAGES, f"more than {MAX_PAGES} pages from the menus: {seen}"
        found = _check(page, path, role, language)
        problems += found
        if not any(": HTTP " in problem for problem in found):  # a page that answered
            todo += [p for p in _menu_links(page, origin) if p not in seen]
    if role == "research":
        page.goto("/research/")
        first = page.locator("a[href*='/research/messages/']").first
        path = urlsplit(first.get_attribute("href") or "").path
        assert path, "no research message listed"
        seen.append(path)
        problems += _check(page, path, role, language)
    return seen, problems


def walk_as(browser: Browser, demo: Demo, role: str, language: str) -> tuple[list[str], list[str]]:
    """Log in as the demonstration's account of ``role``, choose ``language``, walk."""
    context = browser.new_context(base_url=demo.url, locale="fr-CA")
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"script: {exc}"))
        username, password = demo.passwords[role]
        log_in(page, username, password)
        assert urlsplit(page.url).path != "/login", f"{username} could not log in"
        if language == "en":
            page.locator("button[name=language][value=en]").click()
            page.wait_for_load_state()
        walked, problems = walk(page, demo.url, role, language)
        return walked, problems + [f"as {role}: {e}" for e in errors]
    finally:
        context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_demo_account_walks_its_pages(browser: Browser, demo: Demo, language: str) -> None:
    problems: list[str] = []
    walked: dict[str, list[str]] = {}
    roles = {role for _, role, _ in DEMO_ACCOUNTS}
    assert roles == {"admin", "manager", "navigator", "research"}
    for role in sorted(roles):
        walked[role], found = walk_as(browser, demo, role, language)
        problems += found
    assert problems == []
    # each account reached the pages of its work, and only those
    assert any(p.startswith("/admin/users") for p in walked["admin"])
    assert any(p.startswith("/reports/calls") for p in walked["manager"])
    assert any(p.startswith("/console") for p in walked["navigator"])
    assert any(p.startswith("/research/messages/") for p in walked["research"])
    assert not any(p.startswith(("/admin", "/research")) for p in walked["manager"])
    assert not any(p.startswith(("/admin", "/reports", "/research")) for p in walked["navigator"])
    assert not any(p.startswith(("/admin", "/reports", "/console")) for p in walked["research"])
