"""Dashboard user accounts, login throttling and service heartbeats (issue 4).

Passwords are stored as werkzeug hashes (scrypt by default) and checked in constant
time; a login for an unknown name still checks a dummy hash, so the answer takes as
long and says the same thing whether or not the account exists.

Throttling counts failures per user name (existing or not: an unknown name locks the
same way, or the lock message would tell which names exist) and per client address.
After ``max_failures`` failures within ``window`` the name or address is locked for
``lock``; while locked, no password is even checked.

Heartbeats let the dashboard tell a service that runs from one that died without a
word: ``ivr211 serve`` writes one for the FastAGI server every few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import CheckConstraint, ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.times import require_utc
from store.models import Base, UTCDateTime, one_of
from store.rows import changed_rows, update_or_insert

ROLES: tuple[str, ...] = ("manager", "navigator", "research", "admin")
LANGUAGES: tuple[str, ...] = ("fr", "en")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
THROTTLE_SCOPES = ("user", "address")

__all__ = [
    "LANGUAGES",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "AccountError",
    "LoginResult",
    "LoginThrottle",
    "ServiceHeartbeat",
    "ThrottlePolicy",
    "User",
    "authenticate",
    "beat",
    "check_password_strength",
    "create_user",
    "get_heartbeat",
    "list_users",
    "set_password",
    "unlock",
    "user_by_username",
]


class AccountError(ValueError):
    """An account change was refused (the message can be shown to an administrator)."""


class User(Base):
    """A person who logs in to the dashboard.

    A navigator user is tied to a ``navigators`` row (phone endpoint and queue member),
    so the console acts on that navigator's phone. ``failed_logins`` and
    ``locked_until`` are this name's login throttle (see module docstring).
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(one_of("language", LANGUAGES), name="language"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL"), unique=True
    )
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def session_token(self) -> str:
        """Changes with the password: a password change or reset ends other sessions."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:20]


class LoginThrottle(Base):
    """Failed logins of a client address, or of a user name that has no account."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint(one_of("scope", THROTTLE_SCOPES), name="scope"),)

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceHeartbeat(Base):
    """The last sign of life of a long-running service ("fastagi", "dashboard")."""

    __tablename__ = "service_heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- accounts ----------------------------------------------------------------------


def check_password_strength(password: str, username: str = "") -> None:
    """A length rule (what NIST SP 800-63B asks), nothing about character classes."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if username and password.strip().lower() == username.strip().lower():
        raise AccountError("the password must not be the user name")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise AccountError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    return language


def normalize_username(username: str) -> str:
    return username.strip().lower()


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalars(
        select(User).where(User.username == normalize_username(username))
    ).first()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    language: str = "fr",
    navigator_id: int | None = None,
    now: datetime | None = None,
) -> User:
    """Create an account; user names are stored lower-case (logins ignore case)."""
    name = normalize_username(username)
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise AccountError("the user name must be 1 to 100 characters without spaces")
    _check_role(role)
    _check_language(language)
    check_password_strength(password, name)
    if navigator_id is not None and role != "navigator":
        raise AccountError("only a navigator user can be tied to a navigator account")
    if user_by_username(session, name) is not None:
        raise AccountError(f"user {name!r} already exists")
    if navigator_id is not None:
        taken = session.scalars(select(User).where(User.navigator_id == navigator_id)).first()
        if taken is not None:
            raise AccountError(f"that navigator account is already tied to user {taken.username!r}")
    user = User(
        username=name,
        display_name=display_name.strip() or name,
        password_hash=generate_password_hash(password),
        role=role,
        active=True,
        language=language,
        navigator_id=navigator_id,
        failed_logins=0,
        created_at=require_utc(now or datetime.now(UTC), "now"),
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Change the password (ends the user's other sessions) and lift any lock."""
    user = user_by_username(session, username)
    if user is None:
        raise AccountError(f"no user {normalize_username(username)!r}")
    check_password_strength(password, user.username)
    user.password_hash = generate_password_hash(password)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def unlock(session: Session, username: str) -> None:
    """Lift a login lock on a name (an administrator's action)."""
    name = normalize_username(username)
    changed_rows(
        session,
        update(User).where(User.username == name).values(failed_logins=0, locked_until=None),
    )
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.scope == "user", LoginThrottle.key == name)
    )


# ---- logging in ---------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    lock: timedelta = timedelta(minutes=5)
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginResult:
    """``user`` is set on success; ``locked_until`` when the name or address is locked."""

    user: User | None
    locked_until: datetime | None = None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(os.urandom(16).hex())


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _throttle_row(session: Session, scope: str, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, (scope, key), populate_existing=True)


def _count_failure(
    session: Session, scope: str, key: str, now: datetime, policy: ThrottlePolicy
) -> None:
    row = _throttle_row(session, scope, key)
    if row is None:
        row = LoginThrottle(scope=scope, key=key, failures=0, last_failure_at=now)
        session.add(row)
    elif now - row.last_failure_at > policy.window:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= policy.max_failures:
        row.locked_until = now + policy.lock
        row.failures = 0


def authenticate(
    session: Session,
    username: str,
    password: str,
    address: str,
    now: datetime,
    policy: ThrottlePolicy | None = None,
) -> LoginResult:
    """Check a login attempt and update the throttles, in the caller's transaction.

    On SQLite, call it in a write transaction (``BEGIN IMMEDIATE``): it reads then writes.
    """
    policy = policy or ThrottlePolicy()
    now = require_utc(now, "now")
    name = normalize_username(username)[:100]
    address = address[:100] or "unknown"
    user = user_by_username(session, name) if name else None

    address_row = _throttle_row(session, "address", address)
    name_row = None if user is not None else _throttle_row(session, "user", name)
    locks = [
        address_row.locked_until if address_row else None,
        user.locked_until if user else None,
        name_row.locked_until if name_row else None,
    ]
    locked_until = None
    for lock in locks:
        if lock is not None and lock > now:
            locked_until = _later(locked_until, lock)
    if locked_until is not None:
        return LoginResult(None, locked_until)

    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is not None and matches and user.active:
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        session.flush()
        return LoginResult(user)

    _count_failure(session, "address", address, now, policy)
    if user is not None:
        user.failed_logins += 1
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lock
            user.failed_logins = 0
    elif name:
        _count_failure(session, "user", name, now, policy)
    session.flush()
    return LoginResult(None)


def token_matches(user: User, token: str) -> bool:
    return hmac.compare_digest(user.session_token, token)


# ---- heartbeats ----------------------------------------------------------------------


def beat(session: Session, name: str, started_at: datetime, now: datetime) -> None:
    """Record that service ``name`` (this process) is alive; one UPDATE, else an INSERT."""
    now = require_utc(now, "now")
    values = {
        "host": socket.gethostname()[:200],
        "pid": os.getpid(),
        "started_at": require_utc(started_at, "started_at"),
        "heartbeat_at": now,
    }
    update_or_insert(session, ServiceHeartbeat, {"name": name}, values)


def get_heartbeat(session: Session, name: str) -> ServiceHeartbeat | None:
    return session.get(ServiceHeartbeat, name, populate_existing=True)
