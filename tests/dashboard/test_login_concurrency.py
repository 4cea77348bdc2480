"""Many wrong passwords for one name at the same moment, through the real dashboard, on
SQLite and on PostgreSQL: the login throttle holds its limit exactly and never answers
500."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard import create_app
from ivr211.config import DEFAULT_SEED, Config
from ivr211.dashboard_options import dashboard_options
from store import accounts, login_throttle
from store.linesettings import SettingsStore, seed_if_empty
from tests.dashboard.conftest import CSRF_INPUT, DEFAULT_NOW, PASSWORD, FakeClock

ATTEMPTS = 40
LIMIT = 5


def test_forty_parallel_wrong_passwords_are_checked_five_times_and_lock_the_name(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    with SettingsStore(migrated_engine).change() as session:
        seed_if_empty(session, DEFAULT_SEED)
    with Session(migrated_engine) as session, session.begin():
        accounts.create_user(session, "manager", PASSWORD, "manager", now=DEFAULT_NOW)
    config = Config.model_validate(
        {
            "database": {"url": str(migrated_engine.url)},
            "dashboard": {
                "instance_path": str(tmp_path / "instance"),
                "login_max_failures": LIMIT,
            },
            "line": {"settings_cache_s": 0},
        }
    )
    app = create_app(
        dashboard_options(config), engine=migrated_engine, testing=True, clock=FakeClock()
    )
    start = threading.Barrier(ATTEMPTS)

    def attempt(_n: int) -> tuple[int, str]:
        client: FlaskClient = app.test_client()
        match = CSRF_INPUT.search(client.get("/login").text)
        assert match is not None
        start.wait()
        response = client.post(
            "/login",
            data={"username": "manager", "password": "wrong!", "csrf_token": match.group(1)},
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(ATTEMPTS) as pool:
        answers = list(pool.map(attempt, range(ATTEMPTS)))

    statuses = sorted(status for status, _text in answers)
    assert statuses == [200] * LIMIT + [429] * (ATTEMPTS - LIMIT)
    assert all("incorrect" in text for status, text in answers if status == 200)
    with Session(migrated_engine) as session:
        row = session.scalars(
            select(login_throttle.LoginThrottle).where(
                login_throttle.LoginThrottle.scope == "user",
                login_throttle.LoginThrottle.key == "manager",
            )
        ).one()
        assert row.failures == 0
        assert row.locked_until is not None and row.locked_until > DEFAULT_NOW
