"""Every route, every role: exactly the roles a view declares get in, the others get 403,
and anonymous visitors are sent to the login page.

The walk reads ``app.url_map`` (so a blueprint registered later is walked too) and the
declarations through ``dashboard.roles.allowed_roles``. A GET route without arguments
must answer 200 to an allowed role; a route with arguments or a POST-only route must not
refuse an allowed role (it may answer 404 for an unknown id or 400 for an empty form).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from dashboard.roles import PUBLIC, allowed_roles, role_required
from store.accounts import ROLES
from tests.dashboard.conftest import TestUser, read_csrf_token

PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?\w+>")
SAMPLE_VALUES = {
    "int": "1",
    "float": "1",
    "path": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _routes(app: Flask) -> list[Rule]:
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and not rule.endpoint.endswith(".static")
        ),
        key=lambda rule: rule.rule,
    )


def _url(rule: Rule) -> str:
    """The rule with sample values: ``/admin/users/<int:user_id>`` -> ``/admin/users/1``;
    ``<any(summary, days):table>`` -> its first choice."""

    def sample(match: re.Match[str]) -> str:
        if match.group(1) == "any":
            return match.group(2).split(",")[0].strip().strip("'\"")
        return SAMPLE_VALUES.get(match.group(1) or "string", "x")

    return PLACEHOLDER.sub(sample, rule.rule)


def _call(client: FlaskClient, rule: Rule, token: str | None) -> int:
    url = _url(rule)
    if "GET" in (rule.methods or set()):
        return client.get(url).status_code
    data = {"csrf_token": token} if token else {}
    return client.post(url, data=data).status_code


def test_every_view_declares_its_roles(app: Flask) -> None:
    undeclared = [
        rule.endpoint
        for rule in _routes(app)
        if allowed_roles(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []


def test_the_walk_covers_the_foundation_routes(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in _routes(app)}
    assert {"auth.login", "auth.logout", "auth.home", "status.index", "status.as_json"} <= endpoints


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_routes(
    app: Flask,
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    role: str,
) -> None:
    login(client, role)
    token = read_csrf_token(client)
    problems = []
    for rule in _routes(app):
        declared = allowed_roles(app.view_functions[rule.endpoint])
        if declared == PUBLIC or rule.endpoint == "auth.logout":
            continue
        assert isinstance(declared, frozenset)
        status = _call(client, rule, token)
        if role not in declared:
            if status != 403:
                problems.append(f"{rule.rule} ({role}, not allowed): {status}, expected 403")
        elif not rule.arguments and "GET" in (rule.methods or set()):
            if status not in (200, 302) or (status == 302 and rule.endpoint != "auth.home"):
                problems.append(f"{rule.rule} ({role}, allowed): {status}, expected 200")
        elif status in (401, 403) or status >= 500:
            problems.append(f"{rule.rule} ({role}, allowed): {status}")
    assert problems == []


def test_anonymous_visitors_are_sent_to_login(app: Flask, client: FlaskClient) -> None:
    problems = []
    for rule in _routes(app):
        if allowed_roles(app.view_functions[rule.endpoint]) == PUBLIC:
            continue
        response = (
            client.get(_url(rule))
            if "GET" in (rule.methods or set())
            else client.post(_url(rule), data={"csrf_token": read_csrf_token(client)})
        )
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not location.startswith("/login"):
            problems.append(f"{rule.rule}: {response.status_code} {location}")
    assert problems == []


def test_anonymous_get_comes_back_to_the_page_after_login(
    client: FlaskClient, users: Mapping[str, TestUser]
) -> None:
    response = client.get("/status")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/status"


def test_a_view_without_declaration_is_refused_to_everyone(
    app: Flask, client: FlaskClient, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    login(client, "admin")
    assert client.get("/forgotten").status_code == 403


def test_role_required_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="roles"):
        role_required("superuser")
    with pytest.raises(ValueError, match="roles"):
        role_required()


def test_role_required_checks_even_without_the_guard(
    app: Flask, client: FlaskClient, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    view = role_required("manager")(lambda: "managers only")
    with app.test_request_context("/"):
        from flask_login import login_user

        from dashboard.auth import CurrentUser

        login_user(CurrentUser(1, "n", "N", frozenset({"navigator"}), "fr", None, "t"))
        with pytest.raises(Exception, match="403"):
            view()
