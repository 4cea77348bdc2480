"""The navigator's console through the Flask test client: every route, CSRF, the commands
it queues for the listener (args and expiry), the results it shows, and the refusals."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard.console import COMMAND_TTL_S
from listener.live import CurrentCall, LiveSnapshot, MemberPresence
from store import accounts, commands
from store import models as m
from store.live import write_snapshot
from store.navigators import set_status
from tests.dashboard.conftest import PASSWORD, FakeClock, TestUser, do_login, read_csrf_token

JSON = {"Accept": "application/json"}
ALICE = "PJSIP/nav-alice"
LINKEDID = "f2-78443-caller"


def listener_up(engine: Engine, at: datetime, state: str = "connected") -> None:
    with Session(engine) as session, session.begin():
        set_status(session, state, "logged in to 127.0.0.1:5038", at)


def on_call(
    engine: Engine,
    at: datetime,
    *,
    call: bool = True,
    paused: bool = False,
    consulting: bool = False,
    caller_number: str | None = "5145550123",
    path: str = "main>navigator",
) -> None:
    """The live tables as the listener writes them, with alice logged in (on a call)."""
    current = CurrentCall(
        navigator_channel=f"{ALICE}-0000002a",
        caller_channel="PJSIP/trunk-0000002b",
        caller_uniqueid=LINKEDID,
        linkedid=LINKEDID,
        caller_number=caller_number,
        language="fr",
        path=path,
        interpreter=False,
        queue="navigateurs",
        waited_s=42.0,
        connected_at=at - timedelta(seconds=30),
        consulting=consulting,
    )
    member = MemberPresence(
        interface=ALICE,
        name="Alice Tremblay",
        queues=("navigateurs",),
        paused=paused,
        pause_reason="dîner" if paused else "",
        on_call=call,
        call=current if call else None,
        since=at - timedelta(minutes=5),
    )
    snapshot = LiveSnapshot(3, True, at, (member,), ())
    with Session(engine) as session, session.begin():
        write_snapshot(session, snapshot, connected=True, at=at)


def page_text(client: FlaskClient, url: str = "/console/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.text)


def command_rows(engine: Engine) -> list[commands.Command]:
    with Session(engine) as session:
        return commands.recent(session)


def post(client: FlaskClient, url: str, data: Mapping[str, str], **kwargs: Any) -> TestResponse:
    return client.post(url, data={"csrf_token": read_csrf_token(client), **data}, **kwargs)


@pytest.fixture
def navigator(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestUser], app_engine: Engine
) -> TestUser:
    return login(client, "navigator")


def test_the_page_shows_presence_the_call_and_one_button_per_destination(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    page = client.get("/console/")
    assert page.status_code == 200
    text = page.text
    assert "En appel" in text
    assert '<dd class="big" id="caller-number">514 555-0123</dd>' in text
    assert "français" in text and "main&gt;navigator" in text
    assert "42 s" in text
    labels = [
        "Urgence 911 (police, pompiers, ambulance)",
        "Centre de crise régional",
        "SOS violence conjugale",
        "Menus travaux (aide à domicile)",
    ]
    positions = [text.index(label) for label in labels]
    assert positions == sorted(positions)  # emergency services before partner programmes
    assert "disabled" not in text.split('id="console-transfer"')[1].split("</div>")[0]
    assert "Annuler le transfert" in text and "À trois" in text and "Aveugle" in text


def test_every_route_answers_the_navigator(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    assert client.get("/console/").status_code == 200
    assert client.get("/console/state.json").status_code == 200
    posts = [
        ("/console/presence", {"action": "login"}),
        ("/console/presence", {"action": "pause", "reason": "dîner"}),
        ("/console/presence", {"action": "unpause"}),
        ("/console/presence", {"action": "logout"}),
        ("/console/transfer", {"destination": "911", "mode": "attended"}),
        ("/console/transfer", {"destination": "988", "mode": "three_way"}),
        ("/console/transfer", {"destination": "811", "mode": "blind"}),
        ("/console/cancel", {}),
        ("/console/referral", {"destination": "811"}),
    ]
    ids = []
    for url, data in posts:
        response = post(client, url, data, headers=JSON)
        assert response.status_code == 202, (url, response.text)
        ids.append(response.json["command_id"])  # type: ignore[index]
        assert client.get(response.json["result_url"]).status_code == 200  # type: ignore[index]
    rows = {c.id: c for c in command_rows(app_engine)}
    assert [(rows[i].kind, rows[i].args) for i in ids] == [
        ("queue_login", {"user": "nav-alice"}),
        ("queue_pause", {"user": "nav-alice", "reason": "dîner"}),
        ("queue_unpause", {"user": "nav-alice"}),
        ("queue_logout", {"user": "nav-alice"}),
        ("transfer", {"user": "nav-alice", "destination": "911", "mode": "attended"}),
        ("transfer", {"user": "nav-alice", "destination": "988", "mode": "three_way"}),
        ("transfer", {"user": "nav-alice", "destination": "811", "mode": "blind"}),
        ("cancel", {"user": "nav-alice"}),
        ("referral", {"user": "nav-alice", "destination": "811", "linkedid": LINKEDID}),
    ]


def test_state_json_gives_the_call_with_the_callers_number(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    state = client.get("/console/state.json").json
    assert state is not None
    assert state["can_act"] is True
    assert state["presence"] == {
        "known": True,
        "logged_in": True,
        "paused": False,
        "on_call": True,
        "text": "En appel",
    }
    assert state["call"]["caller_number"] == "5145550123"
    assert (state["call"]["language"], state["call"]["waited_s"]) == ("fr", 42.0)


def test_a_command_lands_in_the_table_with_its_args_and_a_short_expiry(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    response = post(client, "/console/transfer", {"destination": "911"}, headers=JSON)
    assert response.status_code == 202
    (command,) = command_rows(app_engine)
    assert response.json is not None and response.json["command_id"] == command.id
    assert command.kind == "transfer"
    assert command.args == {"user": "nav-alice", "destination": "911", "mode": "attended"}
    assert command.requested_by == "dashboard:navigator"
    assert command.status == commands.PENDING
    assert command.created_at == clock.now
    assert command.expires_at == clock.now + timedelta(seconds=COMMAND_TTL_S)
    assert COMMAND_TTL_S <= 10


def test_csrf_is_required(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    for url, data in [
        ("/console/transfer", {"destination": "911"}),
        ("/console/presence", {"action": "login"}),
        ("/console/cancel", {}),
        ("/console/referral", {"destination": "811"}),
    ]:
        assert client.post(url, data=data).status_code == 400
        assert client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert command_rows(app_engine) == []


def test_the_result_endpoint_reflects_what_the_listener_concluded(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    first = post(client, "/console/transfer", {"destination": "911"}, headers=JSON).json
    second = post(client, "/console/cancel", {}, headers=JSON).json
    assert first is not None and second is not None
    pending = client.get(first["result_url"]).json
    assert pending == {
        "command_id": first["command_id"],
        "kind": "transfer",
        "state": "pending",
        "finished": False,
        "ok": False,
        "message": "En cours…",
    }
    with Session(app_engine) as session, session.begin():
        claimed = commands.claim_due(session, clock.now)
        assert [c.id for c in claimed] == [first["command_id"], second["command_id"]]
        commands.complete(
            session,
            first["command_id"],
            "ok",
            {"message": "calling 911; the caller is on hold"},
            now=clock.now,
        )
        commands.complete(
            session,
            second["command_id"],
            "error",
            {"code": "no_such_channel", "message": "PJSIP/nav-alice is not on a call"},
            now=clock.now,
        )
    done = client.get(first["result_url"]).json
    assert done is not None
    assert (done["state"], done["finished"], done["ok"]) == ("ok", True, True)
    assert done["message"] == (
        "Appel de Urgence 911 (police, pompiers, ambulance) en cours; l'appelant est en attente."
    )
    failed = client.get(second["result_url"]).json
    assert failed is not None
    assert (failed["state"], failed["ok"]) == ("error", False)
    assert failed["message"].startswith("Aucun appel en cours sur votre poste")


def test_a_command_nobody_claimed_shows_as_expired(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    answer = post(client, "/console/presence", {"action": "login"}, headers=JSON).json
    assert answer is not None
    clock.advance(COMMAND_TTL_S + 1)
    result = client.get(answer["result_url"]).json
    assert result is not None
    assert result["state"] == "expired"
    assert "rien n'a été fait" in result["message"]


def test_results_are_in_english_for_an_english_user(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    post(client, "/language", {"language": "en", "next": "/console/"})
    answer = post(client, "/console/referral", {"destination": "811"}, headers=JSON).json
    assert answer is not None
    with Session(app_engine) as session, session.begin():
        commands.claim_due(session, clock.now)
        commands.complete(
            session,
            answer["command_id"],
            "ok",
            {"message": "referral to 811 recorded", "key": "k"},
            now=clock.now,
        )
    result = client.get(answer["result_url"]).json
    assert result is not None
    assert result["message"] == (
        "Referral without transfer to Info-Santé (option 1) / Info-Social (option 2) 811 recorded."
    )
    page = page_text(client)
    assert "Caller's number" in page and "On a call" in page


def test_another_users_command_is_not_shown(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    with Session(app_engine) as session, session.begin():
        other = commands.submit(session, "transfer", {"user": "x"}, "cli:root", now=clock.now)
    assert client.get(f"/console/commands/{other}.json").status_code == 404
    assert client.get("/console/commands/999999.json").status_code == 404


def test_without_the_listener_nothing_can_be_sent(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    page = page_text(client)
    assert (
        "Le lien avec le système téléphonique n'a jamais été établi : aucune action n'est "
        "possible." in page
    )
    response = post(client, "/console/transfer", {"destination": "911"}, headers=JSON)
    assert response.status_code == 409
    assert response.json is not None
    assert "aucune action n'est possible" in response.json["message"]

    listener_up(app_engine, clock.now, "disconnected")
    page = page_text(client)
    assert "Le lien avec le système téléphonique est coupé" in page
    assert post(client, "/console/cancel", {}, headers=JSON).status_code == 409

    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    clock.advance(120)  # the listener went silent: heartbeat and live state are stale
    page = page_text(client)
    assert "ne donne plus signe de vie" in page
    assert "5145550123" not in page
    assert post(client, "/console/presence", {"action": "pause"}, headers=JSON).status_code == 409
    assert command_rows(app_engine) == []


def test_a_navigator_user_without_a_phone_gets_a_clear_message(
    client: FlaskClient, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    with Session(app_engine) as session, session.begin():
        accounts.create_user(
            session, "bob", PASSWORD, "navigator", display_name="Bob", now=clock.now
        )
    assert do_login(client, "bob", PASSWORD).status_code == 302
    page = page_text(client)
    assert "Votre compte n'est lié à aucun poste téléphonique" in page
    assert 'id="console-transfer"' not in page
    response = post(client, "/console/presence", {"action": "login"}, headers=JSON)
    assert response.status_code == 409
    assert response.json is not None
    assert response.json["message"].startswith("Votre compte n'est lié à aucun poste")
    assert command_rows(app_engine) == []


def test_refusals_are_explained_and_send_nothing(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now, call=False)
    cases = [
        ("/console/transfer", {"destination": "nowhere"}, "Destination inconnue : nowhere."),
        ("/console/transfer", {"destination": "911", "mode": "park"}, "Type de transfert"),
        ("/console/presence", {"action": "dance"}, "Action inconnue."),
        ("/console/referral", {"destination": "811"}, "Aucun appel en cours"),
        ("/console/referral", {"destination": "811", "linkedid": "a b"}, "Aucun appel en cours"),
    ]
    for url, data, message in cases:
        response = post(client, url, data, headers=JSON)
        assert response.status_code == 409, url
        assert response.json is not None
        assert response.json["message"].startswith(message)
    assert command_rows(app_engine) == []
    # the call the page showed has just ended: its linkedid still records the referral
    ok = post(client, "/console/referral", {"destination": "811", "linkedid": LINKEDID})
    assert ok.status_code == 303
    (command,) = command_rows(app_engine)
    assert command.args["linkedid"] == LINKEDID


def test_without_javascript_the_page_follows_the_command(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    response = post(client, "/console/transfer", {"destination": "811", "mode": "blind"})
    assert response.status_code == 303
    (command,) = command_rows(app_engine)
    assert response.headers["Location"] == f"/console/?command={command.id}"
    page = client.get(response.headers["Location"]).text
    assert f'data-pending="/console/commands/{command.id}.json"' in page
    refused = post(client, "/console/transfer", {"destination": "nowhere"})
    assert refused.status_code == 303
    assert "Destination inconnue" in page_text(client)


def test_paused_and_logged_out_presence(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    listener_up(app_engine, clock.now)
    assert "inconnue" in page_text(client)  # the listener has not written the live state yet
    with Session(app_engine) as session, session.begin():
        empty = LiveSnapshot(1, True, clock.now, (), ())
        write_snapshot(session, empty, connected=True, at=clock.now)
    page = page_text(client)
    assert "Déconnecté de la file" in page and "Se connecter à la file" in page
    on_call(app_engine, clock.now, call=False, paused=True)
    page = page_text(client)
    assert "En pause" in page and "dîner" in page and "Reprendre" in page
    with Session(app_engine) as session:
        assert session.scalar(select(func.count()).select_from(m.ListenerCommand)) == 0


def test_a_destination_still_to_fill_in_is_marked_and_its_refusal_explained(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    """The seed leaves the crisis centre's number empty: its button says so before any
    click, and the listener's refusal (``no_number``: nothing dialled, the attempt
    recorded as failed) reads in the navigator's words."""
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    text = page_text(client)
    transfer = text.split('id="console-transfer"')[1].split("</div>")[0]
    assert "Centre de crise régional (numéro à inscrire)" in transfer
    assert "Menus travaux (aide à domicile) (numéro à inscrire)" in transfer
    assert "Urgence 911 (police, pompiers, ambulance)</button>" in transfer
    answer = post(client, "/console/transfer", {"destination": "crise"}, headers=JSON).json
    assert answer is not None
    with Session(app_engine) as session, session.begin():
        (claimed,) = commands.claim_due(session, clock.now)
        assert claimed.args["destination"] == "crise"
        commands.complete(
            session,
            claimed.id,
            "error",
            {"code": "no_number", "message": "crise has no number to dial yet"},
            now=clock.now,
        )
    result = client.get(answer["result_url"]).json
    assert result is not None
    assert (result["state"], result["ok"]) == ("error", False)
    assert result["message"] == (
        "Aucun numéro n'est encore inscrit pour Centre de crise régional : rien n'a été "
        "composé et l'appelant est toujours avec vous. La tentative est notée. Donnez-lui "
        "le numéro si vous le connaissez, et demandez à un administrateur de l'inscrire."
    )


def cancel_button(text: str) -> str:
    form = text.split('action="/console/cancel"')[1].split("</form>")[0]
    return form.split("<button")[1]


def test_cancel_is_offered_only_during_a_transfer_and_its_refusal_explained(
    client: FlaskClient, navigator: TestUser, app_engine: Engine, clock: FakeClock
) -> None:
    """CancelAtxfer with no consultation plays the abort keys to the caller (2k): the
    button waits for a transfer in progress, and the listener's refusal is explained."""
    listener_up(app_engine, clock.now)
    on_call(app_engine, clock.now)
    assert " disabled" in cancel_button(page_text(client))
    on_call(app_engine, clock.now, consulting=True)
    assert " disabled" not in cancel_button(page_text(client))
    sent = post(client, "/console/cancel", {}, headers=JSON).json
    assert sent is not None
    with Session(app_engine) as session, session.begin():
        (claimed,) = commands.claim_due(session, clock.now)
        commands.complete(
            session,
            claimed.id,
            "error",
            {"code": "no_consultation", "message": "no warm transfer in progress"},
            now=clock.now,
        )
    refused = client.get(sent["result_url"]).json
    assert refused is not None
    assert refused["state"] == "error"
    assert refused["message"].startswith("Aucun transfert en cours sur cet appel")
