"""The status page and the wallboard on a line that runs on Twilio, through the Flask
test client: Twilio's waiting callers and navigators counted beside Asterisk's with the
same words, a centre on Twilio only live without any listener, and the Twilio line's
health said in a manager's words (the technical detail for administrators only)."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store import twilio_presence
from store.heartbeats import beat
from store.navigators import add_navigator, navigator_by_username, set_status
from store.twilio_calls import add_call
from store.twilio_conferences import add_conference
from tests.dashboard.conftest import FakeClock, TestUser, read_csrf_token

LogIn = Callable[[FlaskClient, str], TestUser]
WAITING = "CA" + "b" * 32
TAKEN = "CA" + "c" * 32
TECHNICAL = ("webhook", "twilio-console", "runner", "SID", "pid")


def make_app(config: Config, engine: Engine, clock: FakeClock, *, ami_configured: bool) -> Flask:
    options = replace(dashboard_options(config), twilio_enabled=True, ami_configured=ami_configured)
    return create_app(options, engine=engine, testing=True, clock=clock)


@pytest.fixture
def twilio_only(
    dashboard_config: Config, app_engine: Engine, users: Mapping[str, TestUser], clock: FakeClock
) -> Iterator[Flask]:
    yield make_app(dashboard_config, app_engine, clock, ami_configured=False)


@pytest.fixture
def both_lines(
    dashboard_config: Config, app_engine: Engine, users: Mapping[str, TestUser], clock: FakeClock
) -> Iterator[Flask]:
    yield make_app(dashboard_config, app_engine, clock, ami_configured=True)


def twilio_line(engine: Engine, now: datetime) -> None:
    """Alice paused on Twilio ("formation"), Bob on a Twilio call, one caller waiting
    95 s in English, and the runner alive."""
    with Session(engine) as session, session.begin():
        alice = navigator_by_username(session, "nav-alice")
        assert alice is not None
        bob = add_navigator(session, "nav-bob", "Bob Gagnon", "PJSIP/nav-bob")
        twilio_presence.set_presence(session, alice.id, "login", now - timedelta(hours=1))
        twilio_presence.set_presence(
            session, alice.id, "pause", now - timedelta(minutes=12), reason="formation"
        )
        twilio_presence.set_presence(session, bob.id, "login", now - timedelta(hours=1))
        waiting = add_call(
            session,
            call_sid=WAITING,
            at=now - timedelta(minutes=2),
            caller_number="+14185550199",
            dialed_number="+14185550211",
        )
        waiting.decision = '{"route":"queue","language":"en","path":["open","lang:en"]}'
        waiting.updated_at = now - timedelta(seconds=95)
        taken = add_call(
            session,
            call_sid=TAKEN,
            at=now - timedelta(minutes=4),
            caller_number="+14185550123",
            dialed_number="+14185550211",
        )
        taken.decision = '{"route":"queue","language":"fr","path":["open","lang:fr"]}'
        taken.updated_at = now - timedelta(minutes=3)
        add_conference(
            session,
            caller_sid=TAKEN,
            navigator_user="nav-bob",
            navigator_endpoint="PJSIP/nav-bob",
            line_number="+14185550211",
            at=now - timedelta(seconds=75),
        )
        beat(session, twilio_presence.RUNNER_HEARTBEAT, now - timedelta(hours=2), now)


def page(client: FlaskClient, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200
    return html.unescape(answer.text)


def as_json(client: FlaskClient, url: str) -> dict[str, Any]:
    answer = client.get(url)
    assert answer.status_code == 200
    data = answer.get_json()
    assert isinstance(data, dict)
    return data


def test_status_counts_twilio_and_says_the_line_is_receiving_calls(
    twilio_only: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    now = clock.now.astimezone(UTC)
    twilio_line(app_engine, now)
    manager = twilio_only.test_client()
    login(manager, "manager")
    data = as_json(manager, "/status.json")
    assert data["queue"]["known"] is True and data["queue"]["calls_waiting"] == 1
    assert data["queue"]["longest_wait_s"] == 95.0
    assert data["navigators"] == {"known": True, "logged_in": 2, "paused": 1, "on_call": 1}
    assert data["twilio"]["up"] is True and data["twilio"]["label"] == "reçoit les appels"
    assert data["twilio"]["detail"].startswith("Dernier appel reçu : ")
    assert "technical" not in data["twilio"]
    text = page(manager, "/status")
    assert "Ligne Twilio" in text and "reçoit les appels" in text
    assert "Dernier appel reçu : " in text
    for word in TECHNICAL:
        assert word not in text, word

    admin = twilio_only.test_client()
    login(admin, "admin")
    assert "twilio-console" in as_json(admin, "/status.json")["twilio"]["technical"]
    assert "last webhook" in page(admin, "/status")

    clock.advance(120)  # the runner has been silent for two minutes
    data = as_json(manager, "/status.json")
    assert (data["twilio"]["up"], data["twilio"]["label"]) == (False, "aucune nouvelle")
    assert "Les navigateurs ne peuvent pas prendre les appels" in data["twilio"]["detail"]


def test_status_without_any_twilio_call_yet(twilio_only: Flask, login: LogIn) -> None:
    client = twilio_only.test_client()
    login(client, "manager")
    data = as_json(client, "/status.json")
    assert (data["twilio"]["up"], data["twilio"]["label"]) == (False, "jamais démarré")
    assert data["twilio"]["detail"].startswith("Aucun appel reçu récemment.")
    assert data["navigators"]["logged_in"] == 0


def test_status_in_english(
    twilio_only: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    twilio_line(app_engine, clock.now.astimezone(UTC))
    client = twilio_only.test_client()
    login(client, "manager")
    client.post("/language", data={"csrf_token": read_csrf_token(client), "language": "en"})
    data = as_json(client, "/status.json")
    assert data["twilio"]["label"] == "receiving calls"
    assert data["twilio"]["detail"].startswith("Last call received: ")


def test_the_wallboard_shows_twilio_on_a_centre_on_twilio_only(
    twilio_only: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    twilio_line(app_engine, clock.now.astimezone(UTC))
    client = twilio_only.test_client()
    login(client, "navigator")
    data = as_json(client, "/wallboard/state.json")
    assert data["current"] is True and data["message"] == "En direct"
    assert data["waiting"]["count"] == 1
    (caller,) = data["waiting"]["callers"]
    assert (caller["wait_s"], caller["language_text"]) == (95.0, "anglais")
    navigators = data["navigators"]
    assert (navigators["available"], navigators["on_call"], navigators["paused"]) == (0, 1, 1)
    assert [
        (m["name"], m["state_text"], m["reason"], m["for_s"]) for m in navigators["members"]
    ] == [
        ("Bob Gagnon", "En appel", "", 75.0),
        ("Alice Tremblay", "En pause", "formation", 720.0),
    ]
    assert data["today"] is not None
    text = page(client, "/wallboard/")
    assert "Bob Gagnon" in text and "+14185550199" not in text and "418" not in text


def test_the_wallboard_with_the_link_down_shows_twilio_and_says_so(
    both_lines: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    now = clock.now.astimezone(UTC)
    twilio_line(app_engine, now)
    with Session(app_engine) as session, session.begin():
        set_status(session, "disconnected", "connection refused", now)
    client = both_lines.test_client()
    login(client, "manager")
    data = as_json(client, "/wallboard/state.json")
    assert data["current"] is True
    assert data["message"].startswith("Le lien avec le système téléphonique est coupé : seuls")
    assert data["waiting"]["count"] == 1 and data["navigators"]["on_call"] == 1
    assert data["today"] is None  # Asterisk's calls of the day would be missing


def test_a_centre_on_twilio_alone_is_not_shown_asterisk_as_down(
    twilio_only: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    """No exchange connection configured and no voice-menu server ever heard from: the
    status page shows the line and the Twilio line, not two red Asterisk tiles."""
    twilio_line(app_engine, clock.now.astimezone(UTC))
    client = twilio_only.test_client()
    login(client, "manager")
    text = page(client, "/status")
    assert 'id="status-twilio"' in text
    assert 'id="status-ami"' not in text and 'id="status-fastagi"' not in text
    assert "non configuré" not in text and "jamais démarré" not in text
    data = as_json(client, "/status.json")
    assert data["ami"] is None and data["fastagi"] is None
    with Session(app_engine) as session, session.begin():  # the voice-menu server starts
        beat(session, "fastagi", clock.now.astimezone(UTC), clock.now.astimezone(UTC))
    text = page(client, "/status")
    assert 'id="status-ami"' in text and 'id="status-fastagi"' in text
    assert as_json(client, "/status.json")["fastagi"]["up"] is True
