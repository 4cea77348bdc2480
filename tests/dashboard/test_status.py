"""The line status page and /status.json, for every role, from what each service wrote."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.config import Config
from ivr211.dashboard_options import dashboard_options
from store import heartbeats, live
from store.accounts import ROLES
from store.linesettings import SettingsStore, set_override
from store.navigators import set_status
from tests.dashboard.conftest import FakeClock, TestUser

Login = Callable[[FlaskClient, str], TestUser]


def _beat(engine: Engine, at: datetime) -> None:
    with Session(engine) as session, session.begin():
        heartbeats.beat(session, "fastagi", at - timedelta(hours=1), at)


def _live(engine: Engine, at: datetime) -> None:
    """Two navigators logged in (one paused, one on a call) and three callers waiting."""
    with Session(engine) as session, session.begin():
        session.add(live.LiveState(id=1, connected=True, synced=True, changed_at=at, written_at=at))
        session.add(
            live.NavigatorPresence(
                interface="PJSIP/nav-alice",
                paused=False,
                on_call=True,
                since=at,
                updated_at=at,
                caller_number="4185550100",
                call_linkedid="1700000000.1",
            )
        )
        session.add(
            live.NavigatorPresence(
                interface="PJSIP/nav-bob", paused=True, on_call=False, since=at, updated_at=at
            )
        )
        for position, waited in enumerate((30, 95, 1300), start=1):
            session.add(
                live.QueueCaller(
                    uniqueid=f"1700000000.{10 + position}",
                    queue="navigateurs",
                    position=position,
                    joined_at=at - timedelta(seconds=waited),
                    updated_at=at,
                )
            )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_status(client: FlaskClient, login: Login, role: str) -> None:
    login(client, role)
    page = client.get("/status")
    assert page.status_code == 200
    assert "État de la ligne" in page.text
    assert client.get("/status.json").json["line"]["open"] is True  # type: ignore[index]


def test_nothing_running_shows_everything_down(client: FlaskClient, login: Login) -> None:
    login(client, "manager")
    data = client.get("/status.json").json
    assert data is not None
    assert data["ami"]["up"] is False and data["ami"]["label"] == "jamais démarré"
    assert data["fastagi"]["up"] is False
    assert data["queue"] == {
        "known": False,
        "calls_waiting": None,
        "longest_wait_s": None,
        "longest_wait_text": "–",
    }
    assert data["navigators"]["logged_in"] is None
    page = client.get("/status").text
    assert page.count("Inconnu : le lien avec le système téléphonique est coupé.") == 2


def test_services_up_with_calls_waiting_and_navigators(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    now = clock()
    with Session(app_engine) as session, session.begin():
        set_status(session, "connected", "", now - timedelta(seconds=5))
    _beat(app_engine, now - timedelta(seconds=8))
    _live(app_engine, now)
    login(client, "navigator")
    data = client.get("/status.json").json
    assert data is not None
    assert data["ami"]["up"] is True and data["ami"]["label"] == "connecté"
    assert data["fastagi"]["up"] is True
    assert data["queue"]["calls_waiting"] == 3
    assert data["queue"]["longest_wait_s"] == 1300
    assert data["queue"]["longest_wait_text"] == "21 min 40 s"
    assert data["navigators"] == {"known": True, "logged_in": 2, "paused": 1, "on_call": 1}
    page = client.get("/status").text
    assert 'id="status-fastagi"' in page and "en marche" in page
    assert "21 min 40 s" in page
    assert "4185550100" not in page  # caller numbers belong to the console only


def test_a_silent_service_counts_as_down(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    now = clock()
    with Session(app_engine) as session, session.begin():
        set_status(session, "connected", "", now - timedelta(seconds=31))
    _beat(app_engine, now - timedelta(seconds=31))
    login(client, "admin")
    data = client.get("/status.json").json
    assert data is not None
    assert (data["ami"]["up"], data["ami"]["label"]) == (False, "aucune nouvelle")
    assert (data["fastagi"]["up"], data["fastagi"]["label"]) == (False, "aucune nouvelle")


def test_a_disconnected_listener_says_why(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    with Session(app_engine) as session, session.begin():
        set_status(session, "disconnected", "connection refused", clock())
    login(client, "research")
    data = client.get("/status.json").json
    assert data is not None
    assert data["ami"] == {
        "up": False,
        "label": "déconnecté",
        "detail": (
            "Les transferts, la file d'attente et les navigateurs ne sont pas suivis pendant "
            "ce temps; les appels sont quand même répondus."
        ),
        "since": clock().isoformat(),
        "heard_at": clock().isoformat(),
    }
    assert "connection refused" not in client.get("/status").text


def test_an_administrator_also_reads_what_the_listener_reported(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    with Session(app_engine) as session, session.begin():
        set_status(session, "disconnected", "connection refused", clock())
    login(client, "admin")
    data = client.get("/status.json").json
    assert data is not None
    assert data["ami"]["technical"] == "connection refused"
    assert "récepteur AMI (Asterisk) · connection refused" in client.get("/status").text


def test_closed_line_and_why_in_the_page_and_the_header(
    client: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    with SettingsStore(app_engine).change() as session:
        set_override(session, "closed", None, "tempête", "admin")
    login(client, "manager")
    page = client.get("/status").text
    assert "Ligne fermée" in page  # header
    assert "Fermeture forcée" in page
    data = client.get("/status.json").json
    assert data is not None
    assert data["line"]["open"] is False and data["line"]["reason"] == "override_closed"


def test_after_hours_on_a_saturday_evening(
    client: FlaskClient, login: Login, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))  # Saturday 21:00 in Québec
    login(client, "manager")
    data = client.get("/status.json").json
    assert data is not None
    assert data["line"]["open"] is False and data["line"]["reason"] == "after_hours"
    assert "En dehors des heures d&#39;ouverture" in client.get("/status").text


@pytest.fixture
def unconfigured(dashboard_config: Config, app_engine: Engine, clock: FakeClock) -> FlaskClient:
    """The dashboard of a line whose configuration gives no AMI secret."""
    options = replace(dashboard_options(dashboard_config), ami_configured=False)
    return create_app(options, engine=app_engine, testing=True, clock=clock).test_client()


NOT_CONFIGURED_FR = "non configuré"
NOT_CONFIGURED_DETAIL_FR = (
    "non configuré : le mot de passe de la connexion au central téléphonique n'est pas "
    "inscrit dans la configuration. Les transferts, la file d'attente et les navigateurs ne "
    "sont pas suivis; les appels sont quand même répondus. Un administrateur doit l'inscrire."
)


@pytest.mark.parametrize("listener", ["never", "silent"])
def test_a_listener_without_its_secret_says_not_configured(
    unconfigured: FlaskClient,
    login: Login,
    post_form: Callable[..., object],
    app_engine: Engine,
    clock: FakeClock,
    listener: str,
) -> None:
    if listener == "silent":  # it ran once, before the secret was taken away
        with Session(app_engine) as session, session.begin():
            set_status(session, "connected", "", clock() - timedelta(hours=2))
    login(unconfigured, "manager")
    data = unconfigured.get("/status.json").json
    assert data is not None
    assert (data["ami"]["up"], data["ami"]["label"]) == (False, NOT_CONFIGURED_FR)
    assert data["ami"]["detail"] == NOT_CONFIGURED_DETAIL_FR
    page = html.unescape(unconfigured.get("/status").text)
    tile = page.split('id="status-ami"')[1].split("</div>")[0]
    assert NOT_CONFIGURED_DETAIL_FR in tile
    assert "ne donne plus signe de vie" not in tile and "jamais démarré" not in tile
    post_form(unconfigured, "/language", {"language": "en"})
    english = html.unescape(unconfigured.get("/status").text)
    assert "not configured: the password for the connection to the phone system" in english


def test_a_running_listener_is_believed_over_the_configuration(
    unconfigured: FlaskClient, login: Login, app_engine: Engine, clock: FakeClock
) -> None:
    with Session(app_engine) as session, session.begin():
        set_status(session, "connected", "", clock())
    login(unconfigured, "manager")
    data = unconfigured.get("/status.json").json
    assert data is not None
    assert (data["ami"]["up"], data["ami"]["label"]) == (True, "connecté")


def test_the_options_say_whether_the_ami_secret_is_given(tmp_path: Path) -> None:
    without = Config.model_validate({"ami": {"secret_env": "IVR211_TEST_NO_SUCH_VARIABLE"}})
    assert dashboard_options(without).ami_configured is False
    missing_file = Config.model_validate({"ami": {"secret_file": str(tmp_path / "nowhere")}})
    assert dashboard_options(missing_file).ami_configured is False
    (tmp_path / "ami-secret").write_text("s3cret\n", encoding="utf-8")
    given = Config.model_validate({"ami": {"secret_file": str(tmp_path / "ami-secret")}})
    assert dashboard_options(given).ami_configured is True
