"""The calls page and its CSV exports through the Flask test client: for managers only,
every figure as ``store.reports`` computes it, the LANGUES block character for
character, the note that blocking before the line is the carrier's figure, French and
English, and a CSV for every table."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard.call_reports import EXPORTS
from store import reports as r
from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
    record_activity,
    record_calls,
)
from tests.dashboard.conftest import TestUser

Login = Callable[[FlaskClient, str], TestUser]
FY2026 = r.Period.fiscal(2026)
START = datetime(2026, 9, 15, 14, 0, tzinfo=UTC)  # 10:00 in Montréal


def calls() -> list[CallFact]:
    facts = []
    plan = [
        ("fr", QueueOutcome.ANSWERED, 12.0),
        ("fr", QueueOutcome.ANSWERED, 45.0),
        ("en", QueueOutcome.ANSWERED, 8.0),
        ("interpreter", QueueOutcome.ANSWERED, 70.0),
        ("fr", QueueOutcome.ABANDONED, 3.0),
        ("fr", QueueOutcome.ABANDONED, 40.0),
        ("fr", QueueOutcome.FULL, None),
    ]
    for n, (language, outcome, wait) in enumerate(plan):
        at = START + timedelta(minutes=7 * n)
        facts.append(
            CallFact(
                f"page.{n}",
                at,
                CallSource.FLOW,
                line_state="hours",
                language=language,
                path=f"open/lang:{language}/main:1",
                route="queue",
            )
        )
        facts.append(
            CallFact(
                f"page.{n}",
                at + timedelta(seconds=20),
                CallSource.AMI,
                queue_outcome=outcome,
                wait_s=wait,
                answered_interface="PJSIP/nav-alice" if outcome == "answered" else None,
                talk_s=300.0 if outcome == "answered" else None,
            )
        )
    closed = START.replace(hour=3)
    facts.append(
        CallFact(
            "page.night",
            closed,
            CallSource.FLOW,
            line_state="after_hours",
            language="fr",
            path="=cmd|' /C calc'!A0",  # a path is outside text: never a formula
            route="transfer",
            route_destination="811",
        )
    )
    return facts


@pytest.fixture
def manager(client: FlaskClient, login: Login, app_engine: Engine) -> FlaskClient:
    with Session(app_engine) as session:
        record_calls(session, calls())
        record_activity(
            session,
            [ActivityFact("PJSIP/nav-alice", "logged_in", START, START + timedelta(hours=4))],
        )
        session.commit()
    login(client, "manager")
    return client


def figure(page_text: str, name: str) -> str:
    match = re.search(
        rf'<tr data-figure="{name}"><th scope="row">.*?</th><td class="num">(.*?)</td>',
        page_text,
        re.DOTALL,
    )
    assert match is not None, name
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def test_the_calls_page_and_exports_are_for_managers_only(
    client: FlaskClient, login: Login
) -> None:
    urls = ["/reports/calls/", *(f"/reports/calls/{name}.csv" for name in EXPORTS)]
    for role in ("navigator", "research", "admin"):
        login(client, role)
        for url in urls:
            assert client.get(url).status_code == 403, (role, url)
        client.post("/logout", data={"csrf_token": _token(client)})
    anonymous = client.application.test_client()
    assert anonymous.get(urls[0]).status_code == 302


def test_the_page_shows_the_reports_figures(manager: FlaskClient, app_engine: Engine) -> None:
    page = manager.get("/reports/calls/")
    assert page.status_code == 200
    with Session(app_engine) as session:
        summary = r.call_summary(session, FY2026)
        langues = r.languages_text(r.languages_section(session, FY2026))
    assert (summary.received, summary.answered, summary.abandoned) == (8, 4, 2)
    assert figure(page.text, "received") == "8"
    assert figure(page.text, "answered") == "4"
    assert figure(page.text, "short_abandoned") == "1"
    assert figure(page.text, "blocked") == "1"
    assert figure(page.text, "closed") == "1"
    assert figure(page.text, "service_level_30").startswith("40,0")  # 2 of 6 - 1 short
    match = re.search(r'<pre id="langues-text" lang="fr">(.*?)</pre>', page.text, re.DOTALL)
    assert match is not None and html.unescape(match.group(1)) == langues
    assert "Français" in langues and "50,00\u00a0% Français" in langues
    assert "fournisseur de téléphonie" in page.text  # blocking before the line
    assert 'id="heat"' in page.text and 'id="staffing"' in page.text
    assert "Alice Tremblay" in page.text


def _token(client: FlaskClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/status").text)
    assert match is not None
    return match.group(1)


def test_the_page_in_english(manager: FlaskClient) -> None:
    manager.post("/language", data={"language": "en", "csrf_token": _token(manager)})
    page = manager.get("/reports/calls/")
    assert "Calls received" in page.text
    assert "telephone carrier" in page.text


def test_every_table_has_its_csv(manager: FlaskClient) -> None:
    for name in EXPORTS:
        response = manager.get(f"/reports/calls/{name}.csv?fy=2026")
        assert response.status_code == 200, name
        assert response.mimetype == "text/csv"
        assert response.text.startswith("\ufeff")
        assert "attachment" in response.headers["Content-Disposition"]
    menu = manager.get("/reports/calls/menu.csv?fy=2026").text
    assert "'=cmd|' /C calc'!A0;1" in menu
    bad = manager.get("/reports/calls/days.csv?start=2026-05-01&end=2026-04-01")
    assert bad.status_code == 400
