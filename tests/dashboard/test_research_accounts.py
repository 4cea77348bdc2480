"""An administrator who resets a research member's password (or creates a research
account) could read the research box: the change is audited (who, whom, when), the
research team sees it on its own page, and the team is told once the change is
committed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store.research_access import AccountChange
from store.voicemail import AuditEntry
from tests.dashboard.conftest import DEFAULT_NOW, PASSWORD, FakeClock, TestUser, do_login

Login = Callable[[FlaskClient, str], TestUser]
Post = Callable[..., TestResponse]
NEW_PASSWORD = "un tout nouveau mot de passe"


@pytest.fixture
def told() -> list[AccountChange]:
    return []


@pytest.fixture
def app(
    dashboard_config: Config,
    app_engine: Engine,
    users: Mapping[str, TestUser],
    clock: FakeClock,
    told: list[AccountChange],
) -> Flask:
    options = dataclasses.replace(
        dashboard_options(dashboard_config), on_research_account_change=told.append
    )
    return create_app(options, engine=app_engine, testing=True, clock=clock)


def account_rows(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "account"))
        return [(r.user, r.role, r.object, r.detail, r.at.isoformat()) for r in rows]


def reset(client: FlaskClient, post_form: Post, username: str) -> TestResponse:
    return post_form(
        client,
        f"/admin/users/{username}/password",
        {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )


def test_reset_of_a_research_password_is_audited_told_and_shown_to_the_team(
    app: Flask,
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    told: list[AccountChange],
) -> None:
    login(client, "admin")
    assert reset(client, post_form, "research").status_code == 302

    assert account_rows(app_engine) == [
        ("admin", "admin", "user:research", "password reset", DEFAULT_NOW.isoformat())
    ]
    assert [(c.account, c.kind, c.by, c.at) for c in told] == [
        ("research", "password reset", "admin", DEFAULT_NOW)
    ]
    # The member logs in with the new password (the old one no longer works) and reads
    # on the team's page who reset it.
    with app.test_client() as member:
        assert do_login(member, "research", PASSWORD).status_code != 302
        assert do_login(member, "research", NEW_PASSWORD).status_code == 302
        assert 'id="research-accounts-link"' in member.get("/research/").text
        page = member.get("/research/accounts")
    assert page.status_code == 200
    (row,) = (
        page.text.split('<table id="research-account-changes">')[1]
        .split("<tbody>")[1]
        .split("</tr>")[:-1]
    )
    assert "admin" in row and "research" in row and "mot de passe réinitialisé" in row


def test_reset_of_another_account_is_neither_audited_here_nor_told(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    told: list[AccountChange],
) -> None:
    login(client, "admin")
    assert reset(client, post_form, "manager").status_code == 302
    assert account_rows(app_engine) == []
    assert told == []


def test_a_refused_reset_writes_nothing(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    told: list[AccountChange],
) -> None:
    login(client, "admin")
    answer = post_form(
        client, "/admin/users/research/password", {"password": "court", "confirm": "court"}
    )
    assert answer.status_code == 400
    assert (account_rows(app_engine), told) == ([], [])


def test_a_new_research_account_is_audited_and_told(
    client: FlaskClient,
    login: Login,
    post_form: Post,
    app_engine: Engine,
    told: list[AccountChange],
) -> None:
    login(client, "admin")
    form = {
        "username": "Zoe",
        "display_name": "Zoé Gagnon",
        "roles": "research",
        "language": "fr",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    assert post_form(client, "/admin/users", form).status_code == 302
    assert post_form(client, "/admin/users", {**form, "username": "m", "roles": "manager"})
    assert account_rows(app_engine) == [
        ("admin", "admin", "user:zoe", "created", DEFAULT_NOW.isoformat())
    ]
    assert [(c.account, c.kind) for c in told] == [("zoe", "created")]


@pytest.mark.parametrize("role", ["admin", "manager", "navigator"])
def test_only_the_research_team_reads_its_account_page(
    client: FlaskClient, login: Login, role: str
) -> None:
    login(client, role)
    assert client.get("/research/accounts").status_code == 403


def test_a_failing_notice_leaves_the_reset_and_its_row(
    dashboard_config: Config,
    app_engine: Engine,
    users: Mapping[str, TestUser],
    clock: FakeClock,
    login: Login,
    post_form: Post,
) -> None:
    def broken(change: AccountChange) -> None:
        raise OSError("relay down")

    options = dataclasses.replace(
        dashboard_options(dashboard_config), on_research_account_change=broken
    )
    app = create_app(options, engine=app_engine, testing=True, clock=clock)
    client = app.test_client()
    login(client, "admin")
    assert reset(client, post_form, "research").status_code == 302
    assert len(account_rows(app_engine)) == 1
