"""Accounts, login throttling and heartbeats on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import accounts
from store.accounts import AccountError, ThrottlePolicy, authenticate, create_user

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def _add(engine: Engine, name: str = "alice", role: str = "manager") -> None:
    with Session(engine) as session, session.begin():
        create_user(session, name, PASSWORD, role, now=NOW)


def _try(
    engine: Engine, name: str, password: str, at: datetime, address: str = "10.0.0.1"
) -> accounts.LoginResult:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return authenticate(session, name, password, address, at, ThrottlePolicy())


def test_create_and_authenticate(migrated_engine: Engine) -> None:
    _add(migrated_engine, "Alice")
    ok = _try(migrated_engine, "ALICE", PASSWORD, NOW)
    assert ok.user is not None and ok.user.username == "alice" and ok.user.last_login_at == NOW
    assert ok.user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert PASSWORD not in ok.user.password_hash
    assert _try(migrated_engine, "alice", "wrong", NOW).user is None


def test_refused_accounts(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    with Session(migrated_engine) as session, session.begin():
        for args, message in (
            (("alice", PASSWORD, "manager"), "already exists"),
            (("bob", "short", "manager"), "at least 12"),
            (("bob", PASSWORD, "root"), "role"),
            (("bob smith", PASSWORD, "admin"), "without spaces"),
            (("bobbybobby12", "BobbyBobby12", "admin"), "user name"),
        ):
            with pytest.raises(AccountError, match=message):
                create_user(session, *args, now=NOW)
        with pytest.raises(AccountError, match="navigator"):
            create_user(session, "bob", PASSWORD, "admin", navigator_id=1, now=NOW)


def test_the_role_is_checked_by_the_database(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    with pytest.raises(IntegrityError), Session(migrated_engine) as session, session.begin():
        user = accounts.user_by_username(session, "alice")
        assert user is not None
        user.role = "root"


def test_lock_after_five_failures_then_expiry(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    for minute in range(5):
        result = _try(migrated_engine, "alice", "wrong", NOW + timedelta(minutes=minute))
        assert result.locked_until is None
    locked = _try(migrated_engine, "alice", PASSWORD, NOW + timedelta(minutes=5))
    assert locked.user is None and locked.locked_until == NOW + timedelta(minutes=9)
    assert _try(migrated_engine, "alice", PASSWORD, NOW + timedelta(minutes=9, seconds=1)).user


def test_failures_spread_beyond_the_window_do_not_lock_an_address(migrated_engine: Engine) -> None:
    for hour in range(6):
        at = NOW + timedelta(hours=hour)
        assert _try(migrated_engine, f"user{hour}", "wrong", at).locked_until is None
    assert _try(migrated_engine, "user9", "wrong", NOW + timedelta(hours=7)).locked_until is None


def test_heartbeat_upsert(migrated_engine: Engine) -> None:
    for seconds in (0, 10):
        with Session(migrated_engine) as session, session.begin():
            accounts.beat(session, "fastagi", NOW, NOW + timedelta(seconds=seconds))
    with Session(migrated_engine) as session:
        row = accounts.get_heartbeat(session, "fastagi")
        assert row is not None and row.heartbeat_at == NOW + timedelta(seconds=10)
        assert row.started_at == NOW
