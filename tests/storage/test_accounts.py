"""Accounts, login throttling and heartbeats on both databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import accounts, heartbeats, login_throttle
from store.accounts import AccountError, create_user
from store.login_throttle import ThrottlePolicy, authenticate

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def _add(engine: Engine, name: str = "alice", role: str = "manager") -> None:
    with Session(engine) as session, session.begin():
        create_user(session, name, PASSWORD, role, now=NOW)


def _try(
    engine: Engine, name: str, password: str, at: datetime, address: str = "10.0.0.1"
) -> login_throttle.LoginResult:
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


def test_the_roles_are_checked_by_the_database(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    _add(migrated_engine, "lea", "research")
    for name, column, value in (
        ("alice", "role_manager", False),  # no role left
        ("alice", "role_research", True),  # research with another role
        ("lea", "role_admin", True),
    ):
        with pytest.raises(IntegrityError), Session(migrated_engine) as session, session.begin():
            user = accounts.user_by_username(session, name)
            assert user is not None
            setattr(user, column, value)


def test_an_account_holds_several_roles_but_research_stays_apart(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session, session.begin():
        director = create_user(session, "dora", PASSWORD, ["manager", "admin"], now=NOW)
        assert director.roles == {"manager", "admin"} and director.roles_text == "manager+admin"
        assert director.has_role("admin") and not director.has_role("research", "navigator")
        for roles, message in (
            (["research", "manager"], "stays apart"),
            (["research", "admin"], "stays apart"),
            ([], "at least one role"),
            (["manager", "root"], "root"),
        ):
            with pytest.raises(AccountError, match=message):
                create_user(session, "bob", PASSWORD, roles, now=NOW)
        with pytest.raises(AccountError, match="stays apart"):
            accounts.set_roles(session, "dora", {"admin", "research"})
    with Session(migrated_engine) as session:
        found = accounts.user_by_username(session, "dora")
        assert found is not None and found.roles == {"manager", "admin"}


def test_moving_into_research_ends_the_sessions_and_a_tied_navigator_keeps_its_role(
    migrated_engine: Engine,
) -> None:
    from store import navigators

    with Session(migrated_engine) as session, session.begin():
        user = create_user(session, "marc", PASSWORD, "manager", now=NOW)
        accounts.start_session(session, user, NOW, timedelta(hours=8))
        nav = navigators.add_navigator(session, "nadia", "Nadia", "PJSIP/201", None)
        create_user(session, "nadia", PASSWORD, "navigator", navigator_id=nav.id, now=NOW)
    with Session(migrated_engine) as session, session.begin():
        before, user = accounts.set_roles(session, "marc", {"manager", "admin"})
        assert before == {"manager"} and user.roles == {"manager", "admin"}
        assert session.query(accounts.UserSession).count() == 1  # same side: kept
        before, user = accounts.set_roles(session, "marc", {"research"})
        assert session.query(accounts.UserSession).count() == 0
        with pytest.raises(AccountError, match="navigator role"):
            accounts.set_roles(session, "nadia", {"manager"})
        _before, nadia = accounts.set_roles(session, "nadia", {"navigator", "manager"})
        assert nadia.roles == {"navigator", "manager"}


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
            heartbeats.beat(session, "fastagi", NOW, NOW + timedelta(seconds=seconds))
    with Session(migrated_engine) as session:
        row = heartbeats.get_heartbeat(session, "fastagi")
        assert row is not None and row.heartbeat_at == NOW + timedelta(seconds=10)
        assert row.started_at == NOW


def _throttle(engine: Engine, scope: str, key: str) -> login_throttle.LoginThrottle | None:
    with Session(engine) as session:
        return session.get(login_throttle.LoginThrottle, (scope, key))


def test_forty_parallel_wrong_passwords_check_exactly_the_limit(migrated_engine: Engine) -> None:
    """Each attempt in its own thread and transaction, all let go at once: the count is
    atomic, so five are checked (and refused as wrong), the other 35 find the name
    locked, and nothing fails."""
    _add(migrated_engine)
    attempts = 40
    start = threading.Barrier(attempts)

    def attempt(_n: int) -> login_throttle.LoginResult:
        start.wait()
        return _try(migrated_engine, "alice", "wrong", NOW)

    with ThreadPoolExecutor(attempts) as pool:
        results = list(pool.map(attempt, range(attempts)))
    checked = [r for r in results if r.locked_until is None]
    locked = [r for r in results if r.locked_until is not None]
    assert len(checked) == ThrottlePolicy().max_failures
    assert len(locked) == attempts - ThrottlePolicy().max_failures
    assert {r.locked_until for r in locked} == {NOW + ThrottlePolicy().lock}
    row = _throttle(migrated_engine, "user", "alice")
    assert row is not None and row.failures == 0 and row.locked_until == NOW + timedelta(minutes=5)
    address = _throttle(migrated_engine, "address", "10.0.0.1")
    assert address is not None and address.failures == ThrottlePolicy().max_failures
    assert _try(migrated_engine, "alice", PASSWORD, NOW).locked_until is not None


def test_one_name_failing_does_not_lock_others_behind_the_same_address(
    migrated_engine: Engine,
) -> None:
    _add(migrated_engine, "alice")
    _add(migrated_engine, "bob")
    for _ in range(5):
        _try(migrated_engine, "alice", "wrong", NOW)
    assert _try(migrated_engine, "alice", PASSWORD, NOW).locked_until is not None
    assert _try(migrated_engine, "bob", PASSWORD, NOW).user is not None


def test_an_address_locks_at_its_own_much_higher_threshold(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    policy = ThrottlePolicy()
    assert policy.address_max_failures >= 10 * policy.max_failures

    def attempt(name: str, password: str, address: str = "10.0.0.1") -> login_throttle.LoginResult:
        with Session(migrated_engine, expire_on_commit=False) as session, session.begin():
            return authenticate(session, name, password, address, NOW, policy)

    for n in range(policy.address_max_failures):
        assert attempt(f"guess{n}", "wrong").locked_until is None
    assert attempt("alice", PASSWORD).locked_until == NOW + policy.lock
    assert attempt("alice", PASSWORD, "10.0.0.2").user is not None
    with Session(migrated_engine) as session, session.begin():
        assert [(lock.scope, lock.key) for lock in login_throttle.locks(session, NOW)] == [
            ("address", "10.0.0.1")
        ]
        assert login_throttle.unlock_address(session, "10.0.0.1")
        assert not login_throttle.unlock_address(session, "10.0.0.1")
    assert attempt("alice", PASSWORD).user is not None


def test_success_takes_its_count_back_and_unlock_lifts_a_name(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    for _ in range(3):
        _try(migrated_engine, "alice", "wrong", NOW)
    assert _try(migrated_engine, "alice", PASSWORD, NOW).user is not None
    assert _throttle(migrated_engine, "user", "alice") is None
    address = _throttle(migrated_engine, "address", "10.0.0.1")
    assert address is not None and address.failures == 3
    for _ in range(5):
        _try(migrated_engine, "alice", "wrong", NOW)
    with Session(migrated_engine) as session, session.begin():
        assert login_throttle.lock_of(session, "ALICE", NOW) == NOW + timedelta(minutes=5)
        assert login_throttle.unlock(session, "Alice")
        assert login_throttle.lock_of(session, "alice", NOW) is None
    assert _try(migrated_engine, "alice", PASSWORD, NOW).user is not None


def test_sessions_end_at_logout_at_a_new_password_and_when_over(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    hours = timedelta(hours=12)
    with Session(migrated_engine) as session, session.begin():
        alice = accounts.user_by_username(session, "alice")
        assert alice is not None
        first = accounts.start_session(session, alice, NOW, hours)
        second = accounts.start_session(session, alice, NOW, hours)
        assert first != second
        assert accounts.user_for_session(session, alice.id, first, NOW) is alice
        assert accounts.user_for_session(session, alice.id + 1, first, NOW) is None
        assert accounts.user_for_session(session, alice.id, first, NOW + hours) is None
        accounts.end_session(session, first)
        assert accounts.user_for_session(session, alice.id, first, NOW) is None
        assert accounts.user_for_session(session, alice.id, second, NOW) is alice
        accounts.set_password(session, "alice", "another long password")
        assert accounts.user_for_session(session, alice.id, second, NOW) is None


def test_a_count_past_a_lowered_limit_locks_at_the_next_attempt(migrated_engine: Engine) -> None:
    _add(migrated_engine)
    for _ in range(4):
        _try(migrated_engine, "alice", "wrong", NOW)
    lower = ThrottlePolicy(max_failures=2)

    def attempt(at: datetime) -> login_throttle.LoginResult:
        with Session(migrated_engine, expire_on_commit=False) as session, session.begin():
            return authenticate(session, "alice", PASSWORD, "10.0.0.1", at, lower)

    assert attempt(NOW).locked_until == NOW + lower.lock
    assert attempt(NOW + lower.lock + timedelta(seconds=1)).user is not None
