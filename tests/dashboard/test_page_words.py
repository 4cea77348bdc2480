"""Every page as each role, in English and French: English titles on English pages, no
doubled punctuation ("7:00 p.m.." where a sentence ends on a time), and no technical word
(AMI, FastAGI, pid, a server path, ...) on a page a manager or a navigator reads."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard.roles import PUBLIC, allowed_roles
from store.accounts import ROLES
from store.calls import CallFact, CallSource, QueueOutcome, record_calls
from store.heartbeats import beat
from store.navigators import set_status
from tests.dashboard.conftest import FakeClock, TestUser, read_csrf_token
from tests.dashboard.research_data import add_message

Login = Callable[[FlaskClient, str], TestUser]
TITLE = re.compile(r"<title>(.*?) · [^<]*</title>", re.DOTALL)
ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>")
#: Sample values for the pages with an argument: a destination whose names differ in
#: French and English, a user, a message (added by the fixture).
SAMPLES = {"key": "cps", "username": "navigator", "message_id": "1"}
#: Two periods, not three (an ellipsis); a comma, colon or semicolon twice; ",."; a full
#: stop after a sentence's end. (".," is English: "7:00 a.m., by ...".)
DOUBLED = re.compile(r"(?<![.])\.\.(?![.])|,,|::|;;|,\.|[.!?] \.")


@pytest.fixture
def message(app_engine: Engine, storage: Path) -> int:
    return add_message(app_engine, storage)[0]


def page_urls(app: Flask, role: str | None) -> Iterator[str]:
    """The GET pages ``role`` may open (``None``: a visitor), with sample arguments."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if "GET" not in (rule.methods or set()) or rule.endpoint.endswith("static"):
            continue
        declared = allowed_roles(app.view_functions[rule.endpoint])
        if declared != PUBLIC and (role is None or declared is None or role not in declared):
            continue
        if any(name not in SAMPLES for name in rule.arguments):
            continue
        yield ARGUMENT.sub(lambda match: SAMPLES[match.group(1)], rule.rule)


def html_pages(client: FlaskClient, urls: list[str]) -> dict[str, str]:
    pages = {}
    for url in [*urls, "/no-such-page"]:
        response = client.get(url)
        response.close()  # the audio is streamed
        if response.mimetype == "text/html" and response.status_code in (200, 404):
            pages[url] = response.text
    return pages


def shown(page: str) -> str:
    """What a person reads: the text without tags, scripts or styles, spaces collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", page)).split())


def walk(
    app: Flask, client: FlaskClient, login: Login, role: str | None
) -> dict[str, dict[str, str]]:
    """{language: {url: page}} for every page the role opens."""
    if role is not None:
        login(client, role)
    urls = list(page_urls(app, role))
    found = {}
    for language in ("fr", "en"):
        token = read_csrf_token(client)
        client.post("/language", data={"language": language, "csrf_token": token})
        found[language] = html_pages(client, urls)
    return found


ROLE_OR_VISITOR = [*ROLES, None]
#: Titles that read the same in both languages: a user's name, words English shares.
SAME_IN_BOTH = ("navigator", "Console", "Message", "Administration")


@pytest.mark.parametrize("role", ROLE_OR_VISITOR, ids=str)
def test_english_pages_have_english_titles(
    app: Flask, client: FlaskClient, login: Login, message: int, role: str | None
) -> None:
    pages = walk(app, client, login, role)
    assert set(pages["en"]) == set(pages["fr"]) and len(pages["en"]) >= 2
    french_left = []
    for url, page in pages["en"].items():
        assert '<html lang="en">' in page, url
        english = TITLE.search(page)
        french = TITLE.search(pages["fr"][url])
        assert english is not None and french is not None, url
        same = english.group(1).strip() == french.group(1).strip()
        if same and english.group(1).strip() not in SAME_IN_BOTH:
            french_left.append(f"{url}: {english.group(1).strip()}")
    assert french_left == []


@pytest.mark.parametrize("role", ROLE_OR_VISITOR, ids=str)
def test_no_doubled_punctuation_on_any_page(
    app: Flask, client: FlaskClient, login: Login, message: int, role: str | None
) -> None:
    pages = walk(app, client, login, role)
    doubled = [
        f"{language} {url}: …{text[max(0, m.start() - 40) : m.end() + 10]}…"
        for language, by_url in pages.items()
        for url, page in by_url.items()
        for text in [shown(page)]
        for m in DOUBLED.finditer(text)
    ]
    assert doubled == []


#: Words a centre's staff would have to ask IT about (issue 12), as they would show.
TECHNICAL = {
    "AMI": re.compile(r"\bAMI\b"),
    "FastAGI / AGI": re.compile(r"\b(?:Fast)?AGI\b"),
    "AstDB": re.compile(r"\bAstDB\b", re.IGNORECASE),
    "pid": re.compile(r"\bpid\b", re.IGNORECASE),
    "queues.conf": re.compile(r"\bqueues\.conf\b"),
    "mailbox@context": re.compile(r"\b[\w-]+@[\w-]+\b(?![.@\w-])"),
    "server path": re.compile(r"(?<![\w.:/])/(?:var|home|tmp|etc|srv|opt|usr|run)/"),
    "ms": re.compile(r"\bms\b"),
    "an address": re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
    "a call's path as written": re.compile(r"\b(?:open|closed|lang|main|menu):\w"),
}
#: Attributes a person reads (a tooltip) or hears (a screen reader).
READ_ATTRIBUTES = re.compile(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"')
#: The listener's own words, as listener/ami.py writes them (for the administrators).
LISTENER_DETAIL = "logged in to 127.0.0.1:5038 as ivr211"


def read_text(page: str) -> str:
    return " ".join([shown(page), *map(html.unescape, READ_ATTRIBUTES.findall(page))])


def arrange_line(engine: Engine, clock: FakeClock, state: str) -> None:
    """``never``: no listener or FastAGI server ever ran; ``running``: both report, and
    calls with their paths are recorded; ``silent``: both stopped reporting an hour ago."""
    if state == "never":
        return
    now = clock()
    heard = now - timedelta(hours=1) if state == "silent" else now - timedelta(seconds=2)
    with Session(engine) as session, session.begin():
        set_status(session, "connected", LISTENER_DETAIL, heard)
        beat(session, "fastagi", heard - timedelta(hours=1), heard)
        record_calls(
            session,
            [
                CallFact(
                    "words.1",
                    now - timedelta(days=3),
                    CallSource.FLOW,
                    line_state="hours",
                    language="fr",
                    path="open/lang:fr/main:1",
                    route="queue",
                ),
                CallFact(
                    "words.1",
                    now - timedelta(days=3, seconds=-30),
                    CallSource.AMI,
                    queue_outcome=QueueOutcome.ANSWERED,
                    wait_s=12.0,
                    answered_interface="PJSIP/nav-alice",
                    talk_s=240.0,
                ),
                CallFact(
                    "words.2",
                    now - timedelta(days=2, hours=12),
                    CallSource.FLOW,
                    line_state="after_hours",
                    language="en",
                    path="closed:after_hours/lang:en/menu:1/transfer:cps",
                    route="transfer",
                    route_destination="cps",
                ),
            ],
        )


@pytest.mark.parametrize("state", ["never", "running", "silent"])
@pytest.mark.parametrize("role", ["manager", "navigator"])
def test_no_technical_word_for_managers_and_navigators(
    app: Flask,
    client: FlaskClient,
    login: Login,
    app_engine: Engine,
    clock: FakeClock,
    role: str,
    state: str,
) -> None:
    arrange_line(app_engine, clock, state)
    pages = walk(app, client, login, role)
    expected = {"/status", "/wallboard/"} | (
        {"/reports/", "/reports/calls/"} if role == "manager" else {"/console/"}
    )
    assert expected <= set(pages["fr"]) and set(pages["fr"]) == set(pages["en"])
    found = [
        f"{language} {url}: {name}: …{text[max(0, m.start() - 50) : m.end() + 20]}…"
        for language, by_url in pages.items()
        for url, page in by_url.items()
        for text in [read_text(page)]
        for name, pattern in TECHNICAL.items()
        for m in pattern.finditer(text)
    ]
    assert found == [], "\n".join(found)
    if role == "manager" and state == "running":  # the closed-hours transfer, named
        assert "Centre de prévention du suicide" in shown(pages["fr"]["/reports/calls/"])
        assert "Suicide prevention centre" in shown(pages["en"]["/reports/calls/"])


def test_the_technical_detail_stays_on_the_administrators_status_page(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    """An administrator reads what it means first, then the technical term."""
    arrange_line(app_engine, clock, "running")
    login(client, "admin")
    for language, link in (
        ("fr", "Lien avec le système téléphonique"),
        ("en", "Link with the phone system"),
    ):
        token = read_csrf_token(client)
        client.post("/language", data={"language": language, "csrf_token": token})
        text = shown(client.get("/status").text)
        assert text.index(link) < text.index("AMI") < text.index(LISTENER_DETAIL)
        assert "FastAGI" in text and "pid" in text
