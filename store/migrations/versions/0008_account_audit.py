"""Audit action ``account``: a research account's password reset or creation, who did
it and when (``store.research_access``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "list",
    "view",
    "play",
    "download",
    "delete",
    "note",
    "status",
    "export",
    "purge",
    "ingest",
    "login",
)
AFTER = (*BEFORE, "account")


def _check(actions: tuple[str, ...]) -> str:
    return f"action IN ({', '.join(repr(a) for a in actions)})"


def _replace_check(actions: tuple[str, ...]) -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(op.f("ck_audit_log_action"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_log_action"), _check(actions))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    # The older schema has no action that says "an account was changed": those rows
    # cannot be kept under its constraint.
    op.execute("DELETE FROM audit_log WHERE action = 'account'")
    _replace_check(BEFORE)
