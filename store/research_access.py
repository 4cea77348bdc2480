"""Who opened a way into the research box: a research account's password reset or creation.

An administrator manages every account, and nothing stops one from resetting a research
member's password and logging in as that member: the box's own audit rows would then
name the member, not the administrator. So whatever gives someone a research account's
password — a reset, or a new account created with the research role — writes one audit
row (action ``account``: who, whom, when, what) in the same transaction as the change;
the research team reads these rows on its own page (``/research/audit``), and whoever
made the change tells the team once it is committed (``[notify]``: the accounts have no
e-mail of their own). A change to any other account writes nothing here.

Accounts have no role change: a role is chosen when the account is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from store.accounts import User, set_password
from store.voicemail import AuditEntry, audit, audit_entries

__all__ = [
    "RESEARCH_ROLE",
    "AccountChange",
    "account_changes",
    "record_research_account_created",
    "reset_password",
]

RESEARCH_ROLE = "research"
ACCOUNT_ACTION = "account"


@dataclass(frozen=True)
class AccountChange:
    """What was done to an account, by whom, when. ``audited`` when the account is a
    research account (the audit row was written and the team is to be told)."""

    account: str
    role: str
    kind: str  # "password reset" or "created"
    by: str
    by_role: str
    at: datetime

    @property
    def audited(self) -> bool:
        return self.role == RESEARCH_ROLE

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
            change.kind,
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
        session, AccountChange(user.username, user.role, "password reset", by, by_role, at)
    )


def record_research_account_created(
    session: Session, user: User, *, by: str, by_role: str, at: datetime
) -> AccountChange:
    """Audit the creation of ``user`` when it is a research account."""
    return _record(session, AccountChange(user.username, user.role, "created", by, by_role, at))


def account_changes(session: Session, *, limit: int = 500) -> list[AuditEntry]:
    """The research accounts' audited changes, newest first."""
    return audit_entries(session, action=ACCOUNT_ACTION, limit=limit)
