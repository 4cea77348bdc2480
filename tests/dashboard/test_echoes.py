"""A value typed or sent by a user, repeated in an error message, is cut to a readable
length: a 3,000-character bad date once made a report page 32,797 px wide."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dashboard.echoes import ECHO_MAX, echo, shorten_echoes
from dashboard.roles import role_required

Login = Callable[[FlaskClient, str], Any]
Post = Callable[..., TestResponse]
LONG = "Z" * 3000


def shown(response: TestResponse) -> str:
    """The text a person reads: the page without its tags (a hidden field, or the value
    of a date field that a browser drops when it is not a date, is not shown)."""
    return html.unescape(re.sub(r"<[^>]*>", " ", response.text))


def longest_run(text: str, char: str = "Z") -> int:
    return max((len(run) for run in re.findall(f"{char}+", text)), default=0)


def test_echo_cuts_a_long_value_with_an_ellipsis() -> None:
    assert echo("2026-13-45") == "2026-13-45"
    assert echo("a" * ECHO_MAX) == "a" * ECHO_MAX
    assert echo(LONG) == "Z" * ECHO_MAX + "…"
    assert echo(None) == ""
    assert 50 <= ECHO_MAX <= 64


def test_shorten_echoes_cuts_what_a_message_quotes_and_keeps_the_rest() -> None:
    message = f"territory {'A' * 64!r} must be lower-case letters, digits and dashes"
    assert shorten_echoes(message) == (
        f"territory '{'A' * ECHO_MAX}…' must be lower-case letters, digits and dashes"
    )
    assert shorten_echoes(f"bad {LONG} here") == f"bad {'Z' * ECHO_MAX}… here"
    assert shorten_echoes("a short message 'ok'") == "a short message 'ok'"


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("/reports/", {"start": LONG, "end": "2026-03-31"}),
        ("/reports/", {"start": "2025-04-01", "end": LONG}),
        ("/reports/", {"fy": LONG}),
        ("/reports/navigators", {"start": LONG, "end": "2026-03-31"}),
        ("/reports/outcomes", {"start": LONG, "end": "2026-03-31"}),
        ("/reports/calls/", {"start": LONG, "end": "2026-03-31"}),
        ("/reports/counts.csv", {"start": LONG, "end": "2026-03-31"}),
        ("/reports/annual.txt", {"fy": LONG}),
    ],
)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_3000_character_bad_period_is_echoed_cut(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    url: str,
    query: dict[str, str],
    language: str,
) -> None:
    login(client, "manager")
    post_form(client, "/language", {"language": language})
    response = client.get(url, query_string=query)
    assert response.status_code == 400
    text = shown(response)
    assert longest_run(text) == ECHO_MAX
    assert "Z" * ECHO_MAX + "…" in text


def test_a_refused_admin_change_echoes_the_value_cut(
    client: FlaskClient, login: Login, post_form: Post
) -> None:
    login(client, "admin")
    response = post_form(
        client,
        "/admin/destinations/crise/numbers",
        {"territory": "Z" * 64, "number": "4185550000"},
    )
    assert response.status_code == 400
    text = shown(response)
    assert "Changement refusé" in text
    assert longest_run(text) == ECHO_MAX
    assert "Z" * ECHO_MAX + "…" in text


def test_an_error_page_cuts_what_its_message_repeats(
    app: Flask, client: FlaskClient, login: Login
) -> None:
    @role_required("manager")
    def refuse() -> str:
        abort(400, f"valeur refusée : « {LONG} »")

    app.add_url_rule("/refuse-long", "refuse_long", refuse)
    login(client, "manager")
    page = client.get("/refuse-long")
    assert page.status_code == 400
    text = shown(page)
    assert "valeur refusée" in text and longest_run(text) == ECHO_MAX
    answer = client.get("/refuse-long", headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert answer.json is not None and longest_run(answer.json["message"]) == ECHO_MAX
