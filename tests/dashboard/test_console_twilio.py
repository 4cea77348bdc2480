"""The console of a line on Twilio: the navigator takes the next waiting caller, and
while on that call the transfer, cancel and referral buttons send the Twilio back
end's commands (``twilio_*``), without the listener; a navigator without a Twilio
address is told in words."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store import commands
from store.navigators import set_twilio_address
from store.twilio_calls import add_call
from store.twilio_conferences import add_conference
from tests.dashboard.conftest import FakeClock, TestUser, read_csrf_token

CALLER = "CA" + "c" * 32
JSON = {"Accept": "application/json"}
LogIn = Callable[[FlaskClient, str], TestUser]


@pytest.fixture
def twilio_app(
    dashboard_config: Config, app_engine: Engine, users: Mapping[str, TestUser], clock: FakeClock
) -> Iterator[Flask]:
    options = replace(dashboard_options(dashboard_config), twilio_enabled=True)
    yield create_app(options, engine=app_engine, testing=True, clock=clock)


def text(client: FlaskClient) -> str:
    page = client.get("/console/")
    assert page.status_code == 200
    return html.unescape(page.text)


def post(client: FlaskClient, url: str, **form: str) -> dict[str, object]:
    answer = client.post(url, data={"csrf_token": read_csrf_token(client), **form}, headers=JSON)
    assert answer.status_code == 202, answer.text
    data = answer.get_json()
    assert isinstance(data, dict)
    return data


def last_command(engine: Engine) -> commands.Command:
    with Session(engine) as session:
        return commands.recent(session, 1)[0]


def waiting(engine: Engine, at: datetime) -> None:
    """A caller the flow sent to the queue (its decision as the webhooks store it), and
    one still in the menus."""
    with Session(engine) as session, session.begin():
        row = add_call(
            session,
            call_sid=CALLER,
            at=at,
            caller_number="+14185550123",
            dialed_number="+14185550211",
        )
        row.decision = '{"route":"queue","language":"fr","path":["open","lang:fr"]}'
        add_call(session, call_sid="CA" + "d" * 32, at=at, caller_number=None, dialed_number=None)


def taken(engine: Engine, at: datetime) -> None:
    """What the Twilio runner and callbacks leave once alice took the caller."""
    with Session(engine) as session, session.begin():
        add_conference(
            session,
            caller_sid=CALLER,
            navigator_user="nav-alice",
            navigator_endpoint="PJSIP/nav-alice",
            line_number="+14185550211",
            at=at,
        )


def test_taking_a_call_then_transferring_on_twilio(
    twilio_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_app.test_client()
    login(client, "navigator")
    page = text(client)
    assert "Ligne Twilio" in page
    assert "Appelants en attente : 0" in page
    assert "Aucun numéro de téléphone ni adresse SIP" in page  # no address yet
    with Session(app_engine) as session, session.begin():
        set_twilio_address(session, "nav-alice", "+14185550101")
    assert "Aucun numéro de téléphone ni adresse SIP" not in text(client)

    post(client, "/console/take")  # no listener needed: Twilio's runner takes it
    take = last_command(app_engine)
    assert (take.kind, take.args) == (commands.TWILIO_TAKE, {"user": "nav-alice"})

    waiting(app_engine, clock.now.astimezone(UTC))
    assert "Appelants en attente : 1" in text(client)
    taken(app_engine, clock.now.astimezone(UTC))
    page = text(client)
    assert "Appelants en attente : 0" in page  # the caller was taken
    assert "+1 418 555-0123" in page  # the navigator reads the caller's number (to 911)
    assert "Prendre l'appel suivant" not in page

    post(client, "/console/transfer", destination="cps", mode="attended")
    transfer = last_command(app_engine)
    assert transfer.kind == commands.TWILIO_TRANSFER
    assert transfer.args == {"user": "nav-alice", "destination": "cps", "mode": "attended"}
    post(client, "/console/referral", destination="811")
    referral = last_command(app_engine)
    assert referral.kind == commands.TWILIO_REFERRAL
    assert referral.args["linkedid"] == CALLER
    post(client, "/console/cancel")
    assert last_command(app_engine).kind == commands.TWILIO_CANCEL

    # The runner's answer, said in words.
    with Session(app_engine) as session, session.begin():
        claimed = commands.claim_due(session, clock.now, kinds=commands.TWILIO_KINDS)
        assert [c.kind for c in claimed][:1] == [commands.TWILIO_TAKE]
        commands.complete(session, take.id, "error", {"code": "queue_empty"}, now=clock.now)
        commands.complete(session, transfer.id, "ok", {"message": "x"}, now=clock.now)
    said = client.get(f"/console/commands/{take.id}.json").get_json()
    assert said["message"] == "Personne n'attend dans la file."
    done = client.get(f"/console/commands/{transfer.id}.json").get_json()
    assert done["ok"] is True and "l'appelant est en attente" in done["message"]


def test_take_is_refused_in_words_without_a_twilio_address(
    twilio_app: Flask, app_engine: Engine, login: LogIn
) -> None:
    client = twilio_app.test_client()
    login(client, "navigator")
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.status_code == 409
    assert "Aucun numéro de téléphone ni adresse SIP" in answer.get_json()["message"]
    with Session(app_engine) as session:
        assert commands.recent(session, 1) == []


def test_no_twilio_tile_on_a_line_without_twilio(client: FlaskClient, login: LogIn) -> None:
    login(client, "navigator")
    assert "Ligne Twilio" not in text(client)
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.status_code == 409
