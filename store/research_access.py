"""Who opened a way into the research box: a research account's password reset, creation
or change of roles.

An administrator manages every account, and nothing stops one from resetting a research
member's password and logging in as that member: the box's own audit rows would then
name the member, not the administrator. So whatever gives someone a research account's
password — a reset, a new account created with the research role, or an account moved
into or out of the research role — writes one audit row (action ``account``: who, whom,
when, what) in the same transaction as the change;
the research team reads these rows on its own page (``/research/audit``), and whoever
made the change tells the team once it is committed (``[notify]``: the accounts have no
e-mail of their own). A change to any other account writes nothing here.

The research role stays apart (``store.accounts.check_roles``): an account that holds it
holds no other, so no one outside the research team reads a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from store.accounts import RESEARCH_ROLE, User, roles_text, set_password, set_roles
from store.voicemail import AuditEntry, audit, audit_entries

__all__ = [
    "RESEARCH_ROLE",
    "AccountChange",
    "account_changes",
    "change_roles",
    "record_research_account_created",
    "reset_password",
]

ACCOUNT_ACTION = "account"


@dataclass(frozen=True)
class AccountChange:
    """What was done to an account, by whom, when. ``role`` is the account's roles
    ("manager+admin"), ``before`` its roles before a change of roles. ``audited`` when
    the account is, or was, a research account (the audit row was written and the team
    is to be told)."""

    account: str
    role: str
    kind: str  # "password reset", "created" or "roles changed"
    by: str
    by_role: str
    at: datetime
    before: str = ""

    @property
    def audited(self) -> bool:
        return RESEARCH_ROLE in (*self.role.split("+"), *self.before.split("+"))

    @property
    def detail(self) -> str:
        """The audit row's ``detail``: the kind, and for a change of roles what it was."""
        if self.kind == "roles changed":
            return f"{self.kind}: {self.before} -> {self.role}"
        return self.kind

    @property
    def object(self) -> str:
        return f"user:{self.account}"


def _record(session: Session, change: AccountChange) -> AccountChange:
    if change.audited:
        audit(
            session,
            change.by,
            change.by_role,
            ACCOUNT_ACTION,
            change.object,
            change.detail,
            at=change.at,
        )
    return change


def reset_password(
    session: Session, username: str, password: str, *, by: str, by_role: str, at: datetime
) -> AccountChange:
    """Set ``username``'s password (``store.accounts.set_password``: its sessions end)
    and audit it when the account is a research account."""
    user = set_password(session, username, password)
    return _record(
        session, AccountChange(user.username, user.roles_text, "password reset", by, by_role, at)
    )


def record_research_account_created(
    session: Session, user: User, *, by: str, by_role: str, at: datetime
) -> AccountChange:
    """Audit the creation of ``user`` when it is a research account."""
    return _record(
        session, AccountChange(user.username, user.roles_text, "created", by, by_role, at)
    )


def change_roles(
    session: Session,
    username: str,
    roles: frozenset[str] | set[str] | list[str],
    *,
    by: str,
    by_role: str,
    at: datetime,
) -> AccountChange:
    """Give ``username`` exactly ``roles`` (``store.accounts.set_roles``) and audit it when
    the account moves into or out of the research role."""
    before, user = set_roles(session, username, roles)
    return _record(
        session,
        AccountChange(
            user.username, user.roles_text, "roles changed", by, by_role, at, roles_text(before)
        ),
    )


def account_changes(session: Session, *, limit: int = 500) -> list[AuditEntry]:
    """The research accounts' audited changes, newest first."""
    return audit_entries(session, action=ACCOUNT_ACTION, limit=limit)
