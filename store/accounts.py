"""Dashboard user accounts, their sessions and login throttling.

Passwords are stored as werkzeug hashes (scrypt by default) and checked in constant
time; a login for an unknown name still checks a dummy hash, so the answer takes as
long and says the same thing whether or not the account exists.

Throttling counts failures per user name (existing or not: an unknown name locks the
same way, or the lock message would tell which names exist) and, at a much higher
threshold, per client address (a centre's whole staff may share one address). After
``max_failures`` failures of a name within ``window`` the name is locked for ``lock``;
after ``address_max_failures`` from one address, the address is. While locked, no
password is even checked. An administrator lifts either (``unlock``,
``unlock_address``).

A dashboard session is a row (``UserSession``): logging out deletes it, so a cookie
copied before the logout is refused afterwards; a new password deletes all of them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    String,
    case,
    delete,
    false,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.times import require_utc
from store import navigators
from store.models import Base, UTCDateTime, one_of
from store.refusal import Refusal
from store.rows import changed_rows

ROLES: tuple[str, ...] = ("manager", "navigator", "research", "admin")
#: The role that stays apart: an account holding it holds no other (only the research
#: team reads the research box's messages, Loi 25).
RESEARCH_ROLE = "research"
LANGUAGES: tuple[str, ...] = ("fr", "en")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
THROTTLE_SCOPES = ("user", "address")

__all__ = [
    "LANGUAGES",
    "MIN_PASSWORD_LENGTH",
    "RESEARCH_ROLE",
    "ROLES",
    "AccountError",
    "Lock",
    "LoginResult",
    "LoginThrottle",
    "ThrottlePolicy",
    "User",
    "UserSession",
    "authenticate",
    "check_password_strength",
    "check_roles",
    "create_user",
    "end_session",
    "end_sessions",
    "list_users",
    "lock_of",
    "locks",
    "set_language",
    "set_password",
    "set_roles",
    "set_user_active",
    "start_session",
    "unlock",
    "unlock_address",
    "user_by_username",
    "user_for_session",
]


class AccountError(Refusal, ValueError):
    """An account change was refused: the message in English for the logs and the CLI,
    its code and values for a page to say why in its reader's language
    (``store.refusal``)."""


def _role_column(role: str) -> str:
    return f"role_{role}"


_OTHER_ROLES = " OR ".join(_role_column(r) for r in ROLES if r != RESEARCH_ROLE)


class User(Base):
    """A person who logs in to the dashboard.

    An account holds one or several roles (a director may be both manager and
    administrator), one boolean column each, read and set as the set ``roles``. The
    database itself refuses an account with no role, and an account that holds the
    research role with any other: no one outside the research team reads a message.

    A navigator user is tied to a ``navigators`` row (phone endpoint and queue member),
    so the console acts on that navigator's phone. Its login throttle is the
    ``login_throttle`` row of its name (see module docstring).
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(" OR ".join(_role_column(r) for r in ROLES), name="some_role"),
        CheckConstraint(
            f"NOT {_role_column(RESEARCH_ROLE)} OR NOT ({_OTHER_ROLES})", name="research_apart"
        ),
        CheckConstraint(one_of("language", LANGUAGES), name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role_manager: Mapped[bool] = mapped_column(default=False, server_default=false())
    role_navigator: Mapped[bool] = mapped_column(default=False, server_default=false())
    role_research: Mapped[bool] = mapped_column(default=False, server_default=false())
    role_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    navigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("navigators.id", ondelete="SET NULL"), unique=True
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def roles(self) -> frozenset[str]:
        """The roles the account holds."""
        return frozenset(r for r in ROLES if getattr(self, _role_column(r)))

    @roles.setter
    def roles(self, roles: frozenset[str]) -> None:
        for role in ROLES:
            setattr(self, _role_column(role), role in roles)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def roles_text(self) -> str:
        """The roles in ``ROLES`` order, joined by "+" (the audit log's ``role``)."""
        return roles_text(self.roles)


class UserSession(Base):
    """An open dashboard session; ``id`` is the hash of the secret its cookie holds."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed logins of a user name (with an account or not) or of a client address."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint(one_of("scope", THROTTLE_SCOPES), name="scope"),)

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---- accounts ----------------------------------------------------------------------


def check_password_strength(password: str, username: str = "") -> None:
    """A length rule (what NIST SP 800-63B asks), nothing about character classes."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            "password_short",
            min=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"the password must have at most {MAX_PASSWORD_LENGTH} characters",
            "password_long",
            max=MAX_PASSWORD_LENGTH,
        )
    if username and password.strip().lower() == username.strip().lower():
        raise AccountError("the password must not be the user name", "password_is_username")


def roles_text(roles: frozenset[str] | set[str]) -> str:
    """Roles in ``ROLES`` order joined by "+": "manager+admin"."""
    return "+".join(r for r in ROLES if r in roles)


def check_roles(roles: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> frozenset[str]:
    """The roles as a set, or why they cannot be an account's: none, an unknown one, or
    the research role with another."""
    chosen = frozenset(roles)
    unknown = sorted(chosen.difference(ROLES))
    if unknown:
        raise AccountError(
            f"role {unknown[0]!r} is not one of {', '.join(ROLES)}", "role_unknown", role=unknown[0]
        )
    if not chosen:
        raise AccountError("an account needs at least one role", "no_role")
    if RESEARCH_ROLE in chosen and len(chosen) > 1:
        raise AccountError(
            "the research role stays apart: a research account holds no other role",
            "research_apart",
        )
    return chosen


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise AccountError(
            f"language {language!r} is not one of {', '.join(LANGUAGES)}",
            "language_unknown",
            language=language,
        )
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
    roles: frozenset[str] | set[str] | tuple[str, ...] | list[str] | str,
    *,
    display_name: str = "",
    language: str = "fr",
    navigator_id: int | None = None,
    now: datetime | None = None,
) -> User:
    """Create an account holding ``roles`` (one role may be given as a string); user names
    are stored lower-case (logins ignore case)."""
    name = normalize_username(username)
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise AccountError(
            "the user name must be 1 to 100 characters without spaces", "username_format"
        )
    chosen = check_roles((roles,) if isinstance(roles, str) else roles)
    _check_language(language)
    check_password_strength(password, name)
    if navigator_id is not None and "navigator" not in chosen:
        raise AccountError(
            "only a navigator user can be tied to a navigator account", "navigator_needs_role"
        )
    if user_by_username(session, name) is not None:
        raise AccountError(f"user {name!r} already exists", "user_exists", username=name)
    if navigator_id is not None:
        taken = session.scalars(select(User).where(User.navigator_id == navigator_id)).first()
        if taken is not None:
            raise AccountError(
                f"that navigator account is already tied to user {taken.username!r}",
                "navigator_taken",
                username=taken.username,
            )
    user = User(
        username=name,
        display_name=display_name.strip() or name,
        password_hash=generate_password_hash(password),
        active=True,
        language=language,
        navigator_id=navigator_id,
        created_at=require_utc(now or datetime.now(UTC), "now"),
    )
    user.roles = chosen
    session.add(user)
    session.flush()
    return user


def set_roles(
    session: Session,
    username: str,
    roles: frozenset[str] | set[str] | tuple[str, ...] | list[str],
) -> tuple[frozenset[str], User]:
    """Give ``username`` exactly ``roles``; returns the roles it held before and the user.

    An account tied to a navigator keeps the navigator role (untie it first: its phone
    is the console's). Moving into or out of the research role ends every session of the
    account, so nobody keeps a page opened with the old rights.
    """
    user = user_by_username(session, username)
    if user is None:
        name = normalize_username(username)
        raise AccountError(f"no user {name!r}", "no_user", username=name)
    chosen = check_roles(roles)
    before = user.roles
    if user.navigator_id is not None and "navigator" not in chosen:
        raise AccountError(
            "this account is tied to a navigator's phone: it keeps the navigator role",
            "navigator_keeps_role",
        )
    user.roles = chosen
    if (RESEARCH_ROLE in before) != (RESEARCH_ROLE in chosen):
        end_sessions(session, user.id)
    session.flush()
    return before, user


def set_password(session: Session, username: str, password: str) -> User:
    """Change the password (ends every session of the user) and lift any lock."""
    user = user_by_username(session, username)
    if user is None:
        name = normalize_username(username)
        raise AccountError(f"no user {name!r}", "no_user", username=name)
    check_password_strength(password, user.username)
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user.id)
    unlock(session, user.username)
    session.flush()
    return user


def set_user_active(session: Session, username: str, active: bool) -> User:
    """Let a user log in, or stop them (and the navigator account tied to them)."""
    user = user_by_username(session, username)
    if user is None:
        name = normalize_username(username)
        raise AccountError(f"no user {name!r}", "no_user", username=name)
    user.active = active
    if user.navigator_id is not None:
        navigator = navigators.navigator_by_id(session, user.navigator_id)
        if navigator is not None:
            navigators.set_active(session, navigator.username, active)
    session.flush()
    return user


def set_language(session: Session, user_id: int, language: str) -> None:
    """Save the language a user chose."""
    changed_rows(
        session,
        update(User).where(User.id == user_id).values(language=_check_language(language)),
    )


# ---- logging in ---------------------------------------------------------------------


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


# ---- sessions -----------------------------------------------------------------------


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(session: Session, user: User, now: datetime, lifetime: timedelta) -> str:
    """Open a dashboard session for ``user`` until ``now + lifetime``; the secret to keep
    in its cookie (only its hash is stored). Sessions already over are removed."""
    now = require_utc(now, "now")
    session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    secret = secrets.token_urlsafe(24)
    session.add(
        UserSession(
            id=_session_id(secret), user_id=user.id, created_at=now, expires_at=now + lifetime
        )
    )
    session.flush()
    return secret


def user_for_session(session: Session, user_id: int, secret: str, now: datetime) -> User | None:
    """The active user whose open session this is, or None (ended, expired, another
    user's, or the account is disabled)."""
    return session.scalars(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.active.is_(True),
            UserSession.id == _session_id(secret),
            UserSession.expires_at > require_utc(now, "now"),
        )
    ).first()


def end_session(session: Session, secret: str) -> None:
    """End one session (logging out): its cookie is refused from now on."""
    session.execute(delete(UserSession).where(UserSession.id == _session_id(secret)))


def end_sessions(session: Session, user_id: int) -> None:
    """End every session of a user (a new password)."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
