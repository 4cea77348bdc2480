"""Logging in to the dashboard, and the throttle that counts failed logins.

Passwords are checked in constant time; a login for an unknown name still checks a
dummy hash, so the answer takes as long and says the same thing whether or not the
account exists.

Throttling counts failures per user name (existing or not: an unknown name locks the
same way, or the lock message would tell which names exist) and, at a much higher
threshold, per client address (a centre's whole staff may share one address). After
``max_failures`` failures of a name within ``window`` the name is locked for ``lock``;
after ``address_max_failures`` from one address, the address is. While locked, no
password is even checked. An administrator lifts either (``unlock``,
``unlock_address``); a new password lifts the lock of its name
(``store.accounts.set_password``).

The accounts themselves (``User``, its password hash) are ``store.accounts``'s: this
module reads them, and a new password calls ``unlock`` here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import CheckConstraint, String, case, delete, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.times import require_utc
from store.accounts import AccountError, User, normalize_username, user_by_username
from store.models import Base, UTCDateTime, one_of
from store.rows import changed_rows

THROTTLE_SCOPES = ("user", "address")

__all__ = [
    "Lock",
    "LoginResult",
    "LoginThrottle",
    "ThrottlePolicy",
    "authenticate",
    "lock_of",
    "locks",
    "unlock",
    "unlock_address",
]


class LoginThrottle(Base):
    """Failed logins of a user name (with an account or not) or of a client address."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint(one_of("scope", THROTTLE_SCOPES), name="scope"),)

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class ThrottlePolicy:
    """``max_failures`` failures of one name within ``window`` lock that name for
    ``lock``; ``address_max_failures`` failures from one client address lock the
    address (much higher: a whole centre may sit behind one address)."""

    max_failures: int = 5
    lock: timedelta = timedelta(minutes=5)
    window: timedelta = timedelta(minutes=15)
    address_max_failures: int = 50

    def limit(self, scope: str) -> int:
        return self.max_failures if scope == "user" else self.address_max_failures


@dataclass(frozen=True)
class LoginResult:
    """``user`` is set on success; ``locked_until`` when the name or address is locked."""

    user: User | None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Lock:
    """A name or a client address that cannot log in until ``until``."""

    scope: str
    key: str
    until: datetime


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(os.urandom(16).hex())


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    counted: bool
    locked_until: datetime | None
    over: bool = False


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(LoginThrottle)
    if dialect == "sqlite":
        return sqlite.insert(LoginThrottle)
    raise AccountError(f"no login throttle for the {dialect} database", "internal")


def _claim(session: Session, scope: str, key: str, now: datetime, policy: ThrottlePolicy) -> _Claim:
    """Count an attempt of ``key`` as a failure before its password is checked, in one
    statement that also locks the row until the caller's transaction ends.

    Counting first is what makes the limit exact: a concurrent attempt on the same key
    waits for this one's transaction (PostgreSQL's row lock, SQLite's write lock), then
    sees its outcome. A success takes the count back (``authenticate``). A locked key is
    left as it is. A count that has gone stale (``window``) or outlived its lock starts
    again.
    """
    t = LoginThrottle.__table__.c
    at = literal(now, UTCDateTime())
    locked = t.locked_until > now
    fresh = or_(t.last_failure_at < now - policy.window, t.locked_until.is_not(None))
    statement = (
        _upsert(session)
        .values(scope=scope, key=key, failures=1, last_failure_at=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=["scope", "key"],
            set_={
                "failures": case((locked, t.failures), (fresh, literal(1)), else_=t.failures + 1),
                "last_failure_at": case((locked, t.last_failure_at), else_=at),
                "locked_until": case((locked, t.locked_until), else_=None),
            },
        )
        .returning(LoginThrottle.failures, LoginThrottle.locked_until)
    )
    failures, until = session.execute(statement).one()
    if until is not None and until > now:
        return _Claim(scope, key, counted=False, locked_until=until)
    if failures > policy.limit(scope):
        # Counted past the limit (the limit was lowered since): refused, and locked.
        return _Claim(scope, key, counted=True, locked_until=now + policy.lock, over=True)
    return _Claim(scope, key, counted=True, locked_until=None)


def _take_back(session: Session, claim: _Claim) -> None:
    if claim.counted:
        changed_rows(
            session,
            update(LoginThrottle)
            .where(
                LoginThrottle.scope == claim.scope,
                LoginThrottle.key == claim.key,
                LoginThrottle.failures > 0,
            )
            .values(failures=LoginThrottle.failures - 1),
        )


def _lock_if_over(session: Session, claim: _Claim, now: datetime, policy: ThrottlePolicy) -> None:
    changed_rows(
        session,
        update(LoginThrottle)
        .where(
            LoginThrottle.scope == claim.scope,
            LoginThrottle.key == claim.key,
            LoginThrottle.failures >= policy.limit(claim.scope),
        )
        .values(failures=0, locked_until=now + policy.lock),
    )


def authenticate(
    session: Session,
    username: str,
    password: str,
    address: str,
    now: datetime,
    policy: ThrottlePolicy | None = None,
) -> LoginResult:
    """Check a login attempt and update the throttles, in the caller's transaction.

    The throttle rows of the address and of the name stay locked until that
    transaction ends, so concurrent attempts on one name are checked one after the
    other and never more than ``max_failures`` times in a row. Keep the transaction
    to this call (on SQLite, a write transaction: ``BEGIN IMMEDIATE``).
    """
    policy = policy or ThrottlePolicy()
    now = require_utc(now, "now")
    name = normalize_username(username)[:100]
    address = address[:100] or "unknown"

    # Always the address first, then the name: two attempts never wait on each other
    # in opposite orders.
    claims = [_claim(session, "address", address, now, policy)]
    if name:
        claims.append(_claim(session, "user", name, now, policy))
    locks = [c.locked_until for c in claims if c.locked_until is not None]
    if locks:
        for claim in claims:
            if claim.over:
                _lock_if_over(session, claim, now, policy)
            else:
                _take_back(session, claim)
        return LoginResult(None, max(locks))

    user = user_by_username(session, name) if name else None
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is not None and matches and user.active:
        for claim in claims:
            if claim.scope == "user":
                session.execute(
                    delete(LoginThrottle).where(
                        LoginThrottle.scope == "user", LoginThrottle.key == name
                    )
                )
            else:
                _take_back(session, claim)
        user.last_login_at = now
        session.flush()
        return LoginResult(user)

    for claim in claims:
        _lock_if_over(session, claim, now, policy)
    return LoginResult(None)


def locks(session: Session, now: datetime) -> list[Lock]:
    """The names and addresses locked at ``now``, names first."""
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.locked_until > require_utc(now, "now"))
        .order_by(LoginThrottle.scope.desc(), LoginThrottle.key)
    )
    return [Lock(r.scope, r.key, r.locked_until) for r in rows if r.locked_until is not None]


def lock_of(session: Session, username: str, now: datetime) -> datetime | None:
    """Until when ``username`` cannot log in (None: it can)."""
    until = session.scalar(
        select(LoginThrottle.locked_until).where(
            LoginThrottle.scope == "user", LoginThrottle.key == normalize_username(username)
        )
    )
    return until if until is not None and until > require_utc(now, "now") else None


def unlock(session: Session, username: str) -> bool:
    """Lift the login lock and the failure count of a name; whether there was one."""
    return _forget(session, "user", normalize_username(username))


def unlock_address(session: Session, address: str) -> bool:
    """Lift the login lock and the failure count of a client address; whether there
    was one."""
    return _forget(session, "address", address.strip())


def _forget(session: Session, scope: str, key: str) -> bool:
    deleted = changed_rows(
        session,
        delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key),
    )
    return deleted > 0
