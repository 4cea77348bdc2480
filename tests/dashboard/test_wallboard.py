"""The wallboard through the Flask test client: who may open it, the figures of its
payload from live rows and call records written here, and what it shows when the link
to the phone system is down (no figures at all)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from store.calls import (
    ActivityFact,
    CallFact,
    CallSource,
    QueueOutcome,
    record_activity,
    record_calls,
)
from store.live import (
    CurrentCall,
    LiveSnapshot,
    MemberPresence,
    WaitingCaller,
    clear,
    write_snapshot,
)
from tests.dashboard.conftest import FakeClock, TestUser

ALICE = "PJSIP/nav-alice"  # the navigator account "Alice Tremblay" of the fixtures
CALLER_NUMBER = "5145550123"


def live_rows(
    engine: Engine, at: datetime, *, synced: bool = True, alice_on_call: bool = True
) -> None:
    """Three members (one of them Alice's account, on a call), two callers waiting."""
    call = CurrentCall(
        navigator_channel=f"{ALICE}-0000002a",
        caller_channel="PJSIP/trunk-0000002b",
        caller_uniqueid="1795000100.1",
        linkedid="1795000100.1",
        caller_number=CALLER_NUMBER,
        language="fr",
        path="main>navigator",
        interpreter=False,
        queue="navigateurs",
        waited_s=12.0,
        connected_at=at - timedelta(seconds=75),
    )
    members = (
        MemberPresence(
            ALICE,
            "alice-member",
            ("navigateurs",),
            False,
            "",
            alice_on_call,
            call if alice_on_call else None,
            at - timedelta(seconds=75),
        ),
        MemberPresence(
            "Local/bob@queue-agents/n",
            "Bob Gagnon",
            ("navigateurs",),
            True,
            "formation",
            False,
            None,
            at - timedelta(minutes=12),
        ),
        MemberPresence(
            "Local/carole@queue-agents/n",
            "Carole Roy",
            ("navigateurs",),
            False,
            "",
            False,
            None,
            at - timedelta(seconds=20),
        ),
    )
    callers = (
        WaitingCaller(
            "1795000200.7", "1795000200.7", "PJSIP/trunk-00000031", "navigateurs", 1,
            at - timedelta(seconds=95), "en", "main>navigator",
        ),
        WaitingCaller(
            "1795000300.9", "1795000300.9", "PJSIP/trunk-00000035", "navigateurs", 2,
            at - timedelta(seconds=40), "fr", "main>navigator",
        ),
    )  # fmt: skip
    snapshot = LiveSnapshot(7, synced, at, members, callers)
    with Session(engine) as session, session.begin():
        write_snapshot(session, snapshot, connected=True, at=at)


def fact(n: int, at: datetime, outcome: QueueOutcome | None, wait_s: float | None) -> CallFact:
    return CallFact(
        linkedid=f"1795000000.{n}",
        at=at,
        source=CallSource.AMI,
        caller_number=CALLER_NUMBER,
        queue="navigateurs" if outcome else None,
        queue_outcome=outcome,
        wait_s=wait_s,
    )


def todays_calls(engine: Engine, now: datetime) -> None:
    """Today (25 Nov, from 05:00 UTC): 6 calls, 3 answered (2 within 30 s), 1 abandoned,
    1 timeout, 1 never queued; and 2 calls of the day before."""
    midnight = datetime(2026, 11, 25, 5, 0, tzinfo=now.tzinfo)
    facts = [
        fact(1, midnight + timedelta(hours=8), QueueOutcome.ANSWERED, 4.0),
        fact(2, midnight + timedelta(hours=8), QueueOutcome.ANSWERED, 29.0),
        fact(3, midnight + timedelta(hours=9), QueueOutcome.ANSWERED, 31.0),
        fact(4, midnight + timedelta(hours=9), QueueOutcome.ABANDONED, 50.0),
        fact(5, midnight + timedelta(hours=10), QueueOutcome.TIMEOUT, 600.0),
        fact(6, midnight + timedelta(hours=11), None, None),
        fact(7, midnight - timedelta(seconds=1), QueueOutcome.ABANDONED, 8.0),
        fact(8, midnight - timedelta(hours=3), QueueOutcome.ANSWERED, 2.0),
    ]
    with Session(engine) as session, session.begin():
        record_calls(session, facts, now=now)


def state(client: FlaskClient) -> dict[str, object]:
    response = client.get("/wallboard/state.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data: dict[str, object] = response.get_json()
    return data


def page(client: FlaskClient) -> str:
    response = client.get("/wallboard/")
    assert response.status_code == 200
    return html.unescape(response.text)


@pytest.mark.parametrize("role", ["manager", "navigator"])
def test_managers_and_navigators_open_it_from_the_menu(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestUser], role: str
) -> None:
    login(client, role)
    text = client.get("/status").text
    assert 'href="/wallboard/"' in text
    assert client.get("/wallboard/").status_code == 200
    assert client.get("/wallboard/state.json").status_code == 200


@pytest.mark.parametrize("role", ["research", "admin"])
def test_other_roles_are_refused_and_not_shown_the_link(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestUser], role: str
) -> None:
    login(client, role)
    assert 'href="/wallboard/"' not in client.get("/status").text
    assert client.get("/wallboard/").status_code == 403
    assert client.get("/wallboard/state.json").status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client: FlaskClient) -> None:
    for url in ("/wallboard/", "/wallboard/state.json"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_the_payload_gives_waits_navigators_and_todays_figures(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now)
    todays_calls(app_engine, clock.now)
    login(client, "manager")
    data = state(client)
    assert data["current"] is True
    assert data["waiting"] == {
        "count": 2,
        "longest_s": 95.0,
        "longest_text": "1 min 35 s",
        "callers": [
            {"wait_s": 95.0, "wait_text": "1 min 35 s",
             "language": "en", "language_text": "anglais"},
            {"wait_s": 40.0, "wait_text": "40 s", "language": "fr", "language_text": "français"},
        ],
    }  # fmt: skip
    assert data["navigators"] == {
        "available": 1,
        "on_call": 1,
        "after_call_work": 0,
        "paused": 1,
        "members": [
            {"name": "Carole Roy", "state": "available", "state_text": "Disponible",
             "reason": "", "for_s": 20.0, "for_text": "20 s"},
            {"name": "Alice Tremblay", "state": "on_call", "state_text": "En appel",
             "reason": "", "for_s": 75.0, "for_text": "1 min 15 s"},
            {"name": "Bob Gagnon", "state": "paused", "state_text": "En pause",
             "reason": "formation", "for_s": 720.0, "for_text": "12 min 00 s"},
        ],
    }  # fmt: skip
    assert data["today"] == {
        "date": "2026-11-25",
        "received": 6,
        "answered": 3,
        "abandoned": 1,
        "service_level": 0.4,  # 2 answered within 30 s of 5 waits ended
        "service_level_text": "40\xa0%",
        "within_s": 30.0,
    }


def test_after_call_work_from_the_interval_the_listener_wrote(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    """Alice's call ended 8 s ago (AgentComplete): the listener wrote her after-call work
    up to 30 s later; she is neither on a call nor paused, so that is her state."""
    live_rows(app_engine, clock.now, alice_on_call=False)
    ended = clock.now - timedelta(seconds=8)
    with Session(app_engine) as session, session.begin():
        record_activity(
            session,
            [ActivityFact(ALICE, "after_call_work", ended, ended + timedelta(seconds=30))],
        )
    login(client, "navigator")
    navigators = state(client)["navigators"]
    assert isinstance(navigators, dict)
    assert (navigators["available"], navigators["after_call_work"]) == (1, 1)
    alice = next(m for m in navigators["members"] if m["name"] == "Alice Tremblay")
    assert (alice["state"], alice["state_text"], alice["for_s"]) == (
        "after_call_work",
        "Après-appel",
        8.0,
    )
    clock.advance(23)  # the wrap-up time is over: available again
    navigators = state(client)["navigators"]
    assert isinstance(navigators, dict)
    assert (navigators["available"], navigators["after_call_work"]) == (2, 0)


def test_waits_grow_with_the_clock(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now)
    login(client, "navigator")
    clock.advance(10)
    data = state(client)
    waiting = data["waiting"]
    assert isinstance(waiting, dict)
    assert [c["wait_s"] for c in waiting["callers"]] == [105.0, 50.0]


def test_the_page_shows_the_figures_and_never_a_callers_number(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now)
    todays_calls(app_engine, clock.now)
    login(client, "navigator")
    text = page(client)
    assert 'data-field="waiting">2<' in text
    assert 'data-field="longest">1 min 35 s<' in text
    assert 'data-field="received">6<' in text
    assert 'data-field="service_level">40\xa0%<' in text
    assert "Bob Gagnon" in text and "En pause (formation)" in text
    assert "En direct" in text
    raw = client.get("/wallboard/state.json").text
    for shown in (text, raw):
        assert CALLER_NUMBER not in shown
        assert "PJSIP/trunk" not in shown
        assert "1795000" not in shown  # no call id either


def test_in_english(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    post_form: Callable[..., TestResponse],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now)
    todays_calls(app_engine, clock.now)
    login(client, "manager")
    post_form(client, "/language", {"language": "en", "next": "/wallboard/"})
    data = state(client)
    assert data["message"] == "Live"
    assert data["today"]["service_level_text"] == "40%"  # type: ignore[index]
    members = data["navigators"]["members"]  # type: ignore[index]
    assert [m["state_text"] for m in members] == ["Available", "On a call", "Paused"]
    text = page(client)
    assert "Wallboard" in text and "callers waiting" in text


def _assert_no_live_figures(data: dict[str, object], text: str) -> None:
    assert data["current"] is False
    assert (data["waiting"], data["navigators"], data["today"]) == (None, None, None)
    for name in ("waiting", "longest", "available", "received", "answered", "service_level"):
        assert f'data-field="{name}">–<' in text, name
    assert "Bob Gagnon" not in text and "En direct" not in text


def test_link_down_says_so_and_shows_no_figures(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now)
    todays_calls(app_engine, clock.now)
    with Session(app_engine) as session, session.begin():
        clear(session, clock.now)
    login(client, "manager")
    data = state(client)
    text = page(client)
    _assert_no_live_figures(data, text)
    message = "Le lien avec le système téléphonique est coupé"
    assert str(data["message"]).startswith(message)
    assert message in text
    assert "AMI" not in json.dumps(data) and "AMI" not in text.split("<main", 1)[1]


def test_a_silent_listener_counts_as_down(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    """Killed without clearing its tables: the rows are still there, but too old."""
    live_rows(app_engine, clock.now)
    todays_calls(app_engine, clock.now)
    login(client, "navigator")
    assert state(client)["current"] is True
    clock.advance(31)  # heartbeat_stale_s is 30
    _assert_no_live_figures(state(client), page(client))


def test_before_the_queues_are_read_nothing_is_shown_as_live(
    client: FlaskClient,
    login: Callable[[FlaskClient, str], TestUser],
    app_engine: Engine,
    clock: FakeClock,
) -> None:
    live_rows(app_engine, clock.now, synced=False)
    login(client, "navigator")
    data = state(client)
    _assert_no_live_figures(data, page(client))
    assert data["message"] == "Lecture de l'état de la file d'attente en cours…"


def test_never_started_listener_is_down(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestUser]
) -> None:
    login(client, "manager")
    _assert_no_live_figures(state(client), page(client))
