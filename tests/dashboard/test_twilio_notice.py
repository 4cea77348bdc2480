"""The destinations page of a line on Twilio says what Twilio can dial: full numbers,
not 811/211, and 911 only with an emergency address on the number (README, "Twilio
back end"), in French and English; a line without Twilio says nothing of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from flask.testing import FlaskClient
from sqlalchemy import Engine

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from tests.dashboard.conftest import FakeClock, TestUser

LogIn = Callable[[FlaskClient, str], TestUser]


def test_the_notice_in_both_languages_when_twilio_is_enabled(
    dashboard_config: Config,
    app_engine: Engine,
    users: Mapping[str, TestUser],
    clock: FakeClock,
    login: LogIn,
) -> None:
    options = replace(dashboard_options(dashboard_config), twilio_enabled=True)
    app = create_app(options, engine=app_engine, testing=True, clock=clock)
    client = app.test_client()
    login(client, "admin")
    french = client.get("/admin/destinations")
    assert french.status_code == 200
    assert 'id="twilio-dialling"' in french.text
    assert "Les codes à trois chiffres comme 811 et 211" in french.text
    assert "adresse d&#39;urgence" in french.text or "adresse d'urgence" in french.text
    with client.session_transaction() as session:
        session["lang"] = "en"
    english = client.get("/admin/destinations")
    assert "Three-digit codes such as 811 and 211" in english.text
    assert "emergency address is registered on the Twilio number" in english.text


def test_no_notice_without_twilio(client: FlaskClient, login: LogIn) -> None:
    login(client, "admin")
    page = client.get("/admin/destinations")
    assert page.status_code == 200
    assert 'id="twilio-dialling"' not in page.text
