"""Inputs out of any range the database can hold answer 404 or 400, never 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter
from werkzeug.test import TestResponse

from store.rows import MAX_ROW_ID

Post = Callable[..., TestResponse]
Login = Callable[[FlaskClient, str], Any]

#: Past PostgreSQL's integer, past what SQLite's driver binds, and far past both.
HUGE_IDS = (str(MAX_ROW_ID + 1), str(2**63), "99999999999999999999", "9" * 400)


def test_every_integer_in_a_route_is_bounded_to_a_row_id(app: Flask) -> None:
    bounded = 0
    for rule in app.url_map.iter_rules():
        for name, converter in (rule._converters or {}).items():
            if isinstance(converter, IntegerConverter):
                assert converter.max == MAX_ROW_ID, f"{rule.rule}: <{name}> is not bounded"
                assert converter.min == 1, f"{rule.rule}: <{name}> admits 0"
                bounded += 1
    assert bounded >= 3


@pytest.mark.parametrize("command_id", HUGE_IDS)
def test_a_huge_command_id_is_a_404(client: FlaskClient, login: Login, command_id: str) -> None:
    login(client, "navigator")
    answer = client.get(f"/console/commands/{command_id}.json")
    assert answer.status_code == 404
    assert answer.is_json and answer.get_json()["message"]


@pytest.mark.parametrize("closure_id", HUGE_IDS)
def test_removing_a_huge_closure_id_is_a_404(
    client: FlaskClient, login: Login, post_form: Post, closure_id: str
) -> None:
    login(client, "admin")
    answer = post_form(client, f"/admin/closures/{closure_id}/remove")
    assert answer.status_code == 404
    assert "Page introuvable" in answer.text


def test_the_largest_row_id_is_still_looked_up(
    client: FlaskClient, login: Login, post_form: Post
) -> None:
    login(client, "admin")
    answer = post_form(client, f"/admin/closures/{MAX_ROW_ID}/remove")
    assert answer.status_code == 400
    assert "Cette fermeture n&#39;existe plus" in answer.text


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("path", ["/admin/audit/", "/admin/audit/export.csv"])
def test_an_audit_day_at_the_calendar_edge_is_a_400_that_says_why(
    client: FlaskClient, login: Login, path: str, until: str
) -> None:
    login(client, "admin")
    for query in (f"until={until}", f"since={until}"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, query
        assert "0001-01-02" in answer.text and "9999-12-30" in answer.text


def test_an_audit_day_inside_the_range_is_read(client: FlaskClient, login: Login) -> None:
    login(client, "admin")
    assert client.get("/admin/audit/?since=0001-01-02&until=9999-12-30").status_code == 200


def test_the_audit_day_refusal_is_in_english_too(client: FlaskClient, login: Login) -> None:
    login(client, "admin")
    with client.session_transaction() as session:
        session["lang"] = "en"
    answer = client.get("/admin/audit/?until=9999-12-31")
    assert answer.status_code == 400
    assert "Date out of range: choose a day from 0001-01-02 to 9999-12-30." in answer.text
