"""Fixtures for the dashboard's Flask tests (shared by every dashboard test module).

- ``app``: the dashboard on a fresh SQLite database, migrated, seeded with the packaged
  line settings, with one user per role (``users``) and a fixed ``clock``.
- ``client``: a Flask test client on it (a new one per test, nobody logged in).
- ``login(client, role)``: log in through the real form (CSRF token included); returns
  the ``TestUser``. ``csrf_token(client)`` reads a token from a page;
  ``post_form(client, url, data)`` posts a form with the token added.
- ``clock``: the app's clock (aware UTC), fixed on a Wednesday at 14:00 in Québec when
  the line is open; ``clock.set(...)`` / ``clock.advance(seconds)`` move it.
- ``app_engine``: the app's engine, to arrange data and check what a view wrote.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from dashboard import create_app
from ivr211.config import DEFAULT_SEED, Config
from ivr211.dashboard_options import dashboard_options
from store import accounts
from store.db import make_engine, sqlite_path, upgrade
from store.linesettings import SettingsStore, seed_if_empty
from store.navigators import add_navigator

PASSWORD = "un mot de passe assez long"
ROLES = accounts.ROLES
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
#: Wednesday 25 November 2026, 14:00 in Québec (EST, UTC-5): the line is open.
DEFAULT_NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    id: int
    username: str
    password: str
    role: str
    display_name: str
    navigator_id: int | None


class FakeClock:
    """The app's clock: always aware UTC, moved only by the test."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self.now = now.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """The research messages' folder of the test configuration."""
    return tmp_path / "storage"


@pytest.fixture
def dashboard_config(tmp_path: Path, storage: Path) -> Config:
    """A configured line: the AMI secret is given (in a file), as the listener needs."""
    secret = tmp_path / "ami-secret"
    secret.write_text("ami secret for the tests\n", encoding="utf-8")
    return Config.model_validate(
        {
            "ami": {"secret_file": str(secret)},
            "database": {"url": f"sqlite:///{tmp_path / 'dashboard.db'}"},
            "dashboard": {
                "instance_path": str(tmp_path / "instance"),
                "generated_secret_path": str(tmp_path / "dashboard-secret"),
            },
            "line": {"settings_cache_s": 0},
            "voicemail": {"storage_dir": str(storage)},
        }
    )


@pytest.fixture(scope="session")
def _template_database(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Mapping[str, TestUser]]:
    """Migrated, seeded, with one user per role: built once, copied for each test
    (password hashing and migrations are the slow part of a fresh database)."""
    path = tmp_path_factory.mktemp("dashboard-template") / "dashboard.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with SettingsStore(engine).change() as session:
            seed_if_empty(session, DEFAULT_SEED)
        made = _make_users(engine)
    finally:
        engine.dispose()  # the last connection checkpoints the WAL into the file
    return path, made


@pytest.fixture
def app_engine(
    dashboard_config: Config, _template_database: tuple[Path, Mapping[str, TestUser]]
) -> Iterator[Engine]:
    target = sqlite_path(dashboard_config.database.url)
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template_database[0], target)
    engine = make_engine(dashboard_config.database.url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def users(
    app_engine: Engine, _template_database: tuple[Path, Mapping[str, TestUser]]
) -> Mapping[str, TestUser]:
    """One active user per role, named after it; the navigator is tied to "nav-alice"."""
    return _template_database[1]


def _make_users(engine: Engine) -> Mapping[str, TestUser]:
    made: dict[str, TestUser] = {}
    with Session(engine) as session, session.begin():
        nav = add_navigator(session, "nav-alice", "Alice Tremblay", "PJSIP/nav-alice")
        for role in ROLES:
            user = accounts.create_user(
                session,
                role,
                PASSWORD,
                role,
                display_name=f"{role.capitalize()} Test",
                navigator_id=nav.id if role == "navigator" else None,
                now=DEFAULT_NOW,
            )
            made[role] = TestUser(
                user.id, user.username, PASSWORD, role, user.display_name, user.navigator_id
            )
    return made


@pytest.fixture
def app(
    dashboard_config: Config,
    app_engine: Engine,
    users: Mapping[str, TestUser],
    clock: FakeClock,
) -> Flask:
    return create_app(
        dashboard_options(dashboard_config), engine=app_engine, testing=True, clock=clock
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Not used as a context manager: a kept request context would share ``g`` (where
    Flask-WTF caches the CSRF token) with a second client of the same test."""
    return app.test_client()


def read_csrf_token(client: FlaskClient) -> str:
    """A valid CSRF token for this client's session (from the login or status page)."""
    response = client.get("/login")
    if response.status_code == 302:
        response = client.get("/status")
    assert response.status_code == 200, response.status_code
    match = CSRF_META.search(response.text)
    assert match is not None, "no csrf-token meta tag in the page"
    return match.group(1)


def do_login(
    client: FlaskClient, username: str, password: str, *, next_url: str | None = None
) -> TestResponse:
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match is not None, "no CSRF field in the login form"
    url = "/login" if next_url is None else f"/login?next={next_url}"
    return client.post(
        url, data={"username": username, "password": password, "csrf_token": match.group(1)}
    )


@pytest.fixture
def csrf_token() -> Callable[[FlaskClient], str]:
    return read_csrf_token


@pytest.fixture
def login(users: Mapping[str, TestUser]) -> Callable[[FlaskClient, str], TestUser]:
    def log_in(client: FlaskClient, role: str) -> TestUser:
        user = users[role]
        response = do_login(client, user.username, user.password)
        assert response.status_code == 302, f"login as {role} failed: {response.status_code}"
        return user

    return log_in


@pytest.fixture
def post_form() -> Callable[..., TestResponse]:
    def post(
        client: FlaskClient, url: str, data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> TestResponse:
        form = dict(data or {})
        form.setdefault("csrf_token", read_csrf_token(client))
        return client.post(url, data=form, **kwargs)

    return post
