"""The console of a line on Twilio: the navigator takes the next waiting caller, and
while on that call the transfer, cancel and referral buttons send the Twilio back
end's commands (``twilio_*``), without the listener but only while the Twilio runner
is alive; a navigator without a Twilio address is told in words. Presence on Twilio
(log in, pause with a reason, resume, log out) is written at once by the same buttons,
and the next caller is refused to a navigator logged out or paused there."""

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
from store import commands, twilio_presence
from store.heartbeats import beat
from store.live import LiveSnapshot, write_snapshot
from store.navigators import navigator_by_username, set_status, set_twilio_address
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


@pytest.fixture
def twilio_only_app(
    dashboard_config: Config, app_engine: Engine, users: Mapping[str, TestUser], clock: FakeClock
) -> Iterator[Flask]:
    """A centre on Twilio only: no AMI secret, no listener ever ran."""
    options = replace(
        dashboard_options(dashboard_config), twilio_enabled=True, ami_configured=False
    )
    yield create_app(options, engine=app_engine, testing=True, clock=clock)


def runner_alive(engine: Engine, at: datetime) -> None:
    """The Twilio back end's runner beat at ``at``."""
    with Session(engine) as session, session.begin():
        beat(session, twilio_presence.RUNNER_HEARTBEAT, at, at)


def reachable(engine: Engine, clock: FakeClock) -> None:
    """Alice has a Twilio address and the runner is alive."""
    with Session(engine) as session, session.begin():
        set_twilio_address(session, "nav-alice", "+14185550101")
    runner_alive(engine, clock.now.astimezone(UTC))


def presence(client: FlaskClient, action: str, **form: str) -> tuple[int, dict[str, object]]:
    answer = client.post(
        "/console/presence",
        data={"csrf_token": read_csrf_token(client), "action": action, **form},
        headers=JSON,
    )
    data = answer.get_json()
    assert isinstance(data, dict)
    return answer.status_code, data


def alice_on_twilio(engine: Engine) -> twilio_presence.TwilioPresence | None:
    with Session(engine) as session:
        nav = navigator_by_username(session, "nav-alice")
        assert nav is not None
        return twilio_presence.presence_of(session, nav.id)


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
    reachable(app_engine, clock)
    assert "Aucun numéro de téléphone ni adresse SIP" not in text(client)

    assert presence(client, "login")[0] == 200
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


def test_presence_on_a_centre_on_twilio_only(
    twilio_only_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_only_app.test_client()
    login(client, "navigator")
    reachable(app_engine, clock)
    page = text(client)
    assert "Le lien avec le système téléphonique" not in page  # no listener expected
    assert "La ligne Twilio ne répond pas" not in page
    assert "Ligne Twilio : Déconnecté de la file" in page
    assert "Connectez-vous à la file avant de prendre un appel." in page

    status, data = presence(client, "pause", reason="dîner")
    assert status == 409
    assert data["message"] == "Vous n'êtes pas connecté à la file : connectez-vous d'abord."

    status, data = presence(client, "login")
    assert (status, data["ok"], data["message"]) == (
        200,
        True,
        "Vous êtes connecté à la file d'attente.",
    )
    with Session(app_engine) as session:
        assert commands.recent(session, 5) == []  # no command: nothing to ask a PBX
    row = alice_on_twilio(app_engine)
    assert row is not None and not row.paused
    page = text(client)
    assert "Disponible" in page and "Ligne Twilio : Connecté" in page

    status, data = presence(client, "pause", reason="dîner")
    assert (status, data["message"]) == (200, "Vous êtes en pause.")
    row = alice_on_twilio(app_engine)
    assert row is not None and (row.paused, row.pause_reason) == (True, "dîner")
    page = text(client)
    assert "En pause" in page and "Motif : dîner" in page
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.status_code == 409
    assert (
        answer.get_json()["message"] == "Vous êtes en pause : reprenez avant de prendre un appel."
    )

    assert presence(client, "unpause")[1]["message"] == "Vous êtes de retour de pause."
    post(client, "/console/take")
    assert last_command(app_engine).kind == commands.TWILIO_TAKE

    assert presence(client, "logout")[1]["message"] == "Vous êtes déconnecté de la file d'attente."
    assert alice_on_twilio(app_engine) is None
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.status_code == 409
    assert answer.get_json()["message"] == "Connectez-vous à la file avant de prendre un appel."

    # Without JavaScript: the page comes back with the result.
    answer = client.post(
        "/console/presence",
        data={"csrf_token": read_csrf_token(client), "action": "login"},
        follow_redirects=True,
    )
    assert "Vous êtes connecté à la file d'attente." in html.unescape(answer.text)


def test_twilio_actions_need_the_twilio_runner_not_the_listener(
    twilio_only_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_only_app.test_client()
    login(client, "navigator")
    reachable(app_engine, clock)
    presence(client, "login")
    clock.advance(120)  # the runner's last beat is now two minutes old
    page = text(client)
    assert "La ligne Twilio ne répond pas" in page
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.status_code == 409
    assert "La ligne Twilio ne répond pas" in answer.get_json()["message"]
    with Session(app_engine) as session:
        assert commands.recent(session, 5) == []
    runner_alive(app_engine, clock.now.astimezone(UTC))
    assert "La ligne Twilio ne répond pas" not in text(client)
    post(client, "/console/take")


def test_presence_goes_to_both_lines_when_the_listener_is_up(
    twilio_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_app.test_client()
    login(client, "navigator")
    reachable(app_engine, clock)
    with Session(app_engine) as session, session.begin():
        set_status(session, "connected", "logged in", clock.now.astimezone(UTC))
        write_snapshot(session, LiveSnapshot.empty(), connected=True, at=clock.now.astimezone(UTC))
    data = post(client, "/console/presence", action="pause", reason="formation")
    queued = last_command(app_engine)
    assert (queued.kind, queued.args["reason"]) == (commands.QUEUE_PAUSE, "formation")
    assert data["command_id"] == queued.id
    assert alice_on_twilio(app_engine) is None  # paused nowhere: not logged in on Twilio
    post(client, "/console/presence", action="login")
    assert last_command(app_engine).kind == commands.QUEUE_LOGIN
    row = alice_on_twilio(app_engine)
    assert row is not None and not row.paused


def test_the_listener_down_leaves_the_twilio_actions(
    twilio_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_app.test_client()
    login(client, "navigator")
    reachable(app_engine, clock)
    with Session(app_engine) as session, session.begin():
        set_status(session, "disconnected", "connection refused", clock.now.astimezone(UTC))
    page = text(client)
    assert (
        "Le lien avec le système téléphonique ne répond pas : seuls les appels de la ligne "
        "Twilio peuvent être pris et transférés." in page
    )
    presence(client, "login")
    post(client, "/console/take")


def test_twilio_refusals_read_in_english(
    twilio_only_app: Flask, app_engine: Engine, login: LogIn, clock: FakeClock
) -> None:
    client = twilio_only_app.test_client()
    login(client, "navigator")
    reachable(app_engine, clock)
    client.post("/language", data={"csrf_token": read_csrf_token(client), "language": "en"})
    page = text(client)
    assert "Twilio line: Logged out of the queue" in page
    assert "Log in to the queue before taking a call." in page
    status, data = presence(client, "pause")
    assert (status, data["message"]) == (409, "You are not logged in to the queue: log in first.")
    presence(client, "login")
    presence(client, "pause", reason="lunch")
    answer = client.post(
        "/console/take", data={"csrf_token": read_csrf_token(client)}, headers=JSON
    )
    assert answer.get_json()["message"] == "You are paused: resume before taking a call."
    clock.advance(120)
    assert "The Twilio line is not answering" in text(client)


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
