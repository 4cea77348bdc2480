"""Every page as each role, in English and French: English titles on English pages, and
no doubled punctuation ("7:00 p.m.." where a sentence ends on a time)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from dashboard.roles import PUBLIC, allowed_roles
from store.accounts import ROLES
from tests.dashboard.conftest import TestUser, read_csrf_token
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
