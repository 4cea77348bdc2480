"""Dashboard user accounts and their sessions.

Passwords are stored as werkzeug hashes (scrypt by default); logging in, and the
throttle that counts failed logins, are ``store.login_throttle``'s.

A dashboard session is a row (``UserSession``): logging out deletes it, so a cookie
copied before the logout is refused afterwards; a new password deletes all of them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    String,
    delete,
    false,
    select,
    update,
)
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

__all__ = [
    "LANGUAGES",
    "MIN_PASSWORD_LENGTH",
    "RESEARCH_ROLE",
    "ROLES",
    "AccountError",
    "User",
    "UserSession",
    "check_password_strength",
    "check_roles",
    "create_user",
    "end_session",
    "end_sessions",
    "list_users",
    "set_language",
    "set_password",
    "set_roles",
    "set_user_active",
    "start_session",
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
    ``login_throttle`` row of its name (``store.login_throttle``).
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
    from store import login_throttle  # here: store.login_throttle reads this module's users

    login_throttle.unlock(session, user.username)
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
