"""An administrator enters, changes and clears a navigator's phone on the Twilio line from
the user's page (the CLI's ``ivr211 navigator twilio`` on a page), in French and English;
a wrong address is refused on the page without changing anything; a line without Twilio
shows none of it, and only administrators may post it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store.navigators import navigator_by_username
from tests.dashboard.conftest import FakeClock, TestUser, read_csrf_token

LogIn = Callable[[FlaskClient, str], TestUser]
PAGE = "/admin/users/navigator"


def twilio_address(engine: Engine) -> str | None:
    with Session(engine) as session:
        nav = navigator_by_username(session, "nav-alice")
        assert nav is not None
        return nav.twilio_address


@pytest.fixture
def twilio_client(dashboard_config: Config, app_engine: Engine, clock: FakeClock) -> FlaskClient:
    options = replace(dashboard_options(dashboard_config), twilio_enabled=True)
    return create_app(options, engine=app_engine, testing=True, clock=clock).test_client()


def post_address(client: FlaskClient, address: str) -> str:
    client.get(PAGE)
    answer = client.post(
        f"{PAGE}/twilio",
        data={"address": address, "csrf_token": read_csrf_token(client)},
        follow_redirects=True,
    )
    assert answer.status_code in (200, 400)
    return f"{answer.status_code} {answer.text}"


def test_the_admin_sets_changes_and_clears_the_phone(
    twilio_client: FlaskClient, app_engine: Engine, users: Mapping[str, TestUser], login: LogIn
) -> None:
    login(twilio_client, "admin")
    page = twilio_client.get(PAGE)
    assert page.status_code == 200
    assert 'id="user-twilio"' in page.text
    assert "Téléphone sur la ligne Twilio" in page.text

    saved = post_address(twilio_client, " +14185550101 ")
    assert saved.startswith("200 ")
    assert "Téléphone sur la ligne Twilio enregistré." in saved
    assert twilio_address(app_engine) == "+14185550101"
    assert 'id="user-twilio-address">+14185550101<' in saved

    post_address(twilio_client, "sip:alice@centre.sip.twilio.com")
    assert twilio_address(app_engine) == "sip:alice@centre.sip.twilio.com"

    cleared = post_address(twilio_client, "")
    assert "Ce navigateur ne prend plus d&#39;appels sur la ligne Twilio." in cleared
    assert twilio_address(app_engine) is None


def test_a_wrong_address_is_refused_and_nothing_changes(
    twilio_client: FlaskClient, app_engine: Engine, users: Mapping[str, TestUser], login: LogIn
) -> None:
    login(twilio_client, "admin")
    post_address(twilio_client, "+14185550101")
    refused = post_address(twilio_client, "418-555-0199")
    assert refused.startswith("400 ")
    assert "inscrivez un numéro de téléphone au format international" in refused
    assert twilio_address(app_engine) == "+14185550101"
    with twilio_client.session_transaction() as session:
        session["lang"] = "en"
    english = twilio_client.get(PAGE)
    assert "Phone on the Twilio line" in english.text
    assert "Leave empty if this navigator takes no Twilio calls." in english.text


def test_a_user_without_a_navigator_has_no_twilio_phone(
    twilio_client: FlaskClient, app_engine: Engine, users: Mapping[str, TestUser], login: LogIn
) -> None:
    login(twilio_client, "admin")
    assert 'id="user-twilio"' not in twilio_client.get("/admin/users/manager").text
    twilio_client.get("/admin/users/manager")
    answer = twilio_client.post(
        "/admin/users/manager/twilio",
        data={"address": "+14185550101", "csrf_token": read_csrf_token(twilio_client)},
    )
    assert answer.status_code == 400
    assert twilio_address(app_engine) is None


def test_without_twilio_the_page_says_nothing_of_it(client: FlaskClient, login: LogIn) -> None:
    login(client, "admin")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Twilio" not in page.text


@pytest.mark.parametrize("role", ["navigator", "manager", "research"])
def test_only_an_administrator_may_set_it(
    twilio_client: FlaskClient, app_engine: Engine, login: LogIn, role: str
) -> None:
    login(twilio_client, role)
    twilio_client.get("/")
    answer = twilio_client.post(
        f"{PAGE}/twilio",
        data={"address": "+14185550101", "csrf_token": read_csrf_token(twilio_client)},
    )
    assert answer.status_code == 403
    assert twilio_address(app_engine) is None
