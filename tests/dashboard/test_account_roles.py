"""Accounts with several roles: a director both manager and administrator opens the pages
of both; the research role stays apart (the users page says so, refuses research with
another role, and audits an account moved into or out of it)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store import accounts
from store.research_access import AccountChange
from store.voicemail import AuditEntry
from tests.dashboard.conftest import FakeClock, TestUser, do_login

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]
NEW_PASSWORD = "un tout nouveau mot de passe"
DIRECTOR = {
    "username": "dora",
    "display_name": "Dora Tremblay",
    "roles": ["manager", "admin"],
    "language": "fr",
    "password": NEW_PASSWORD,
    "confirm": NEW_PASSWORD,
}


@pytest.fixture
def told() -> list[AccountChange]:
    return []


@pytest.fixture
def app(
    dashboard_config: Config, app_engine: Engine, clock: FakeClock, told: list[AccountChange]
) -> Flask:
    options = dataclasses.replace(
        dashboard_options(dashboard_config), on_research_account_change=told.append
    )
    return create_app(options, engine=app_engine, testing=True, clock=clock)


def roles_of(engine: Engine, username: str) -> frozenset[str]:
    with Session(engine) as session:
        user = accounts.user_by_username(session, username)
        assert user is not None
        return user.roles


def account_rows(engine: Engine) -> list[tuple[str, str, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "account").order_by(AuditEntry.id)
        )
        return [(r.user, r.role, r.object, r.detail) for r in rows]


def test_a_director_is_manager_and_administrator(
    app: Flask, client: FlaskClient, login: Login, post_form: Post, app_engine: Engine
) -> None:
    login(client, "admin")
    assert post_form(client, "/admin/users", DIRECTOR).status_code == 302
    assert roles_of(app_engine, "dora") == {"manager", "admin"}
    director = app.test_client()
    home = do_login(director, "dora", NEW_PASSWORD)
    assert home.status_code == 302 and home.headers["Location"].endswith("/reports/")
    for url in ("/reports/", "/admin/", "/admin/users", "/admin/audit/"):
        assert director.get(url).status_code == 200, url
    page = director.get("/admin/").text
    assert "(Gestion, Administration)" in page
    for url in ("/research/", "/console/"):
        assert director.get(url).status_code == 403, url


def test_research_with_another_role_is_refused_on_the_page(
    client: FlaskClient, login: Login, post_form: Post, app_engine: Engine
) -> None:
    login(client, "admin")
    answer = post_form(client, "/admin/users", {**DIRECTOR, "roles": ["research", "manager"]})
    assert answer.status_code == 400
    assert "Le rôle Recherche ne se combine avec aucun autre" in answer.text
    nothing = post_form(client, "/admin/users", {**DIRECTOR, "roles": []})
    assert nothing.status_code == 400 and "Cochez au moins un rôle." in nothing.text
    with Session(app_engine) as session:
        assert accounts.user_by_username(session, "dora") is None


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", "Le rôle Recherche reste à part"),
        ("en", "The research role stays apart"),
    ],
)
def test_the_users_page_says_research_stays_apart_and_has_role_boxes(
    client: FlaskClient, login: Login, post_form: Post, language: str, words: str
) -> None:
    login(client, "admin")
    post_form(client, "/language", {"language": language})
    page = client.get("/admin/users").text
    assert words in page
    assert len(re.findall(r'<input [^>]*name="roles" type="checkbox"', page)) == 4
    assert '<select id="role"' not in page


def test_roles_changed_on_the_user_page_and_research_moves_audited(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    told: list[AccountChange],
) -> None:
    admin = login(client, "admin")
    url = "/admin/users/manager/roles"
    assert post_form(client, url, {"roles": ["manager", "admin"]}).status_code == 302
    assert roles_of(app_engine, "manager") == {"manager", "admin"}
    assert account_rows(app_engine) == [] and told == []  # no research account touched
    refused = post_form(client, url, {"roles": ["admin", "research"]})
    assert refused.status_code == 400
    assert roles_of(app_engine, "manager") == {"manager", "admin"}
    assert post_form(client, url, {"roles": ["research"]}).status_code == 302
    assert roles_of(app_engine, "manager") == {"research"}
    assert post_form(client, "/admin/users/research/roles", {"roles": "manager"}).status_code == 302
    assert account_rows(app_engine) == [
        (admin.username, "admin", "user:manager", "roles changed: manager+admin -> research"),
        (admin.username, "admin", "user:research", "roles changed: research -> manager"),
    ]
    assert [(c.account, c.kind, c.before, c.role) for c in told] == [
        ("manager", "roles changed", "manager+admin", "research"),
        ("research", "roles changed", "research", "manager"),
    ]
    page = client.get("/admin/audit/").text
    assert "A changé les rôles du compte « manager » : Gestion, Administration → Recherche." in (
        page.replace("&#34;", '"').replace("&#39;", "'")
    )


def test_an_administrator_keeps_their_own_administration_role(
    client: FlaskClient, login: Login, post_form: Post, app_engine: Engine
) -> None:
    login(client, "admin")
    answer = post_form(client, "/admin/users/admin/roles", {"roles": "manager"})
    assert answer.status_code == 400
    assert "Vous ne pouvez pas retirer votre propre rôle Administration." in answer.text
    assert roles_of(app_engine, "admin") == {"admin"}


def test_the_research_team_sees_an_account_moved_into_research(
    app: Flask, client: FlaskClient, login: Login, post_form: Post
) -> None:
    login(client, "admin")
    assert post_form(client, "/admin/users/manager/roles", {"roles": "research"}).status_code == 302
    team = app.test_client()
    login(team, "research")
    page = team.get("/research/accounts").text.replace("&#39;", "'")
    assert "rôles changés : Gestion → Recherche" in page
