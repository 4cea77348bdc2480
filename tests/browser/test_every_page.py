"""Every page of the dashboard in Chromium, in French and in English, as the role that
uses it: it answers, axe-core finds no serious or critical violation, a page a
manager, navigator or research member sees shows none of the words only the people
who built the line use, and a screenshot of it is written for a reviewer to look at.

Screenshots go to ``var/screenshots/<language>/`` at the top of the project (the README
says so), or to the folder ``IVR211_SCREENSHOTS`` names. A page added to the dashboard
and not listed here fails ``test_every_page_is_walked``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.dashboard_options import dashboard_options
from store.transfers import record_facts
from tests.browser.conftest import Dashboard, log_in, page_errors
from tests.browser.test_reports import FACTS
from tests.dashboard.research_data import add_message

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("IVR211_SCREENSHOTS") or ROOT / "var" / "screenshots")
LANGUAGES = ("fr", "en")
#: Impacts axe-core rates that a page may not have.
BLOCKING = frozenset({"serious", "critical"})

#: (role, path, screenshot name): every page, as the role that uses it. ``{message}``
#: is a research message, ``{user}`` the manager's account.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("admin", "/admin/", "admin"),
    ("admin", "/admin/line", "admin-line"),
    ("admin", "/admin/hours", "admin-hours"),
    ("admin", "/admin/holidays", "admin-holidays"),
    ("admin", "/admin/closures", "admin-closures"),
    ("admin", "/admin/override", "admin-override"),
    ("admin", "/admin/destinations", "admin-destinations"),
    ("admin", "/admin/destinations/{destination}", "admin-destination"),
    ("admin", "/admin/consent", "admin-consent"),
    ("admin", "/admin/users", "admin-users"),
    ("admin", "/admin/users/{user}", "admin-user"),
    ("admin", "/admin/audit/", "admin-audit"),
    ("admin", "/status", "status-admin"),
    ("manager", "/reports/?fy=2025", "reports"),
    ("manager", "/reports/calls/?fy=2025", "reports-calls"),
    ("manager", "/reports/navigators?fy=2025", "reports-navigators"),
    ("manager", "/reports/outcomes?fy=2025", "reports-outcomes"),
    ("manager", "/wallboard/", "wallboard"),
    ("manager", "/status", "status"),
    ("navigator", "/console/", "console"),
    ("research", "/research/", "research"),
    ("research", "/research/messages/{message}", "research-message"),
    ("research", "/research/accounts", "research-accounts"),
)
#: Pages that are not HTML pages of their own (downloads, data for scripts, files).
NOT_PAGES = re.compile(r"\.(csv|json|txt)$|/static/|/download$|/play/|^/$")

#: What a manager, navigator or research member must never read (issue: words a
#: centre uses). Checked on the visible text of the page.
TECHNICAL = re.compile(
    r"\b(AMI|FastAGI|AGI|AstDB|pid|PID)\b|queues\.conf|\w+@[\w-]+(?=\s|$)"
    r"|(?<![\w.])/(?:var|home|tmp|etc|usr|srv|opt)/|\d\s?ms\b"
)


def technical_words(text: str) -> list[str]:
    return sorted({match.group(0) for match in TECHNICAL.finditer(text)})


def test_the_technical_words_check_finds_them() -> None:
    assert technical_words("Lien AMI coupé · boîte 1234@research · /var/spool/x · 35 ms") == [
        "/var/",
        "1234@research",
        "5 ms",
        "AMI",
    ]
    assert technical_words("Appels 1 234 · Français 99,36 % · 12 min 05 s · AMIS") == []


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def test_every_page_is_walked(dashboard: Dashboard) -> None:
    app = create_app(dashboard_options(dashboard.config), engine=dashboard.engine)
    pages = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not NOT_PAGES.search(rule.rule)
    }
    walked = {path.split("?")[0] for _, path, _ in PAGES} | {"/login"}
    walked = {re.sub(r"\{message_id\}", "{message}", p) for p in walked}
    pages = {
        p.replace("{message_id}", "{message}")
        .replace("{username}", "{user}")
        .replace("{key}", "{destination}")
        for p in pages
    }
    assert sorted(pages - walked) == []


@pytest.fixture
def walk_data(
    dashboard: Dashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A year of transfers and one research message with its audio."""
    workdir = tmp_path / "walk-workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    storage = (workdir / dashboard.config.voicemail.storage_dir).resolve()
    with Session(dashboard.engine) as session, session.begin():
        record_facts(session, FACTS)
    message_id, _audio = add_message(dashboard.engine, storage, callback_number="5815550199")
    return {
        "message": str(message_id),
        "user": dashboard.users["manager"],
        "destination": "811",
    }


@pytest.fixture
def shots() -> Iterator[Callable[[str, str], Path]]:
    def path_for(language: str, name: str) -> Path:
        folder = SCREENSHOTS / language
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.png"

    yield path_for


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_in_each_language(
    open_page: Callable[[], Page],
    dashboard: Dashboard,
    walk_data: dict[str, str],
    shots: Callable[[str, str], Path],
    language: str,
) -> None:
    problems: list[str] = []

    login = open_page()
    login.goto("/login")
    if language == "en":
        login.locator("button[name=language][value=en]").click()
        login.wait_for_load_state()
    problems += [f"/login: {v}" for v in serious_violations(login)]
    login.screenshot(path=str(shots(language, "login")), full_page=True)

    pages: dict[str, Page] = {}
    for role, template, name in PAGES:
        page = pages.get(role)
        if page is None:
            page = pages[role] = open_page()
            log_in(page, dashboard.users[role])
            if language == "en":
                page.locator("button[name=language][value=en]").click()
                page.wait_for_load_state()
        path = template.format(**walk_data)
        response = page.goto(path)
        page.wait_for_load_state("networkidle")
        if response is None or response.status != 200:
            problems.append(f"{path} as {role}: HTTP {response.status if response else '?'}")
            continue
        if page.locator("html").get_attribute("lang") != language:
            problems.append(f"{path} as {role}: not in {language}")
        problems += [f"{path} as {role}: {v}" for v in serious_violations(page)]
        if role != "admin":
            words = technical_words(page.locator("body").inner_text())
            if words:
                problems.append(f"{path} as {role}: technical words {words}")
        page.screenshot(path=str(shots(language, name)), full_page=True)
    for role, page in pages.items():
        problems += [f"as {role}: {error}" for error in page_errors(page)]
    assert problems == []
    written = sorted(p.name for p in (SCREENSHOTS / language).glob("*.png"))
    assert {f"{name}.png" for _, _, name in PAGES} <= set(written)
