"""Audit action ``refused``: a page or a message someone was refused (403) is written to
the audit log too, with who tried and what.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
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
    "account",
)
AFTER = (*BEFORE, "refused")


def _check(actions: tuple[str, ...]) -> str:
    return f"action IN ({', '.join(repr(a) for a in actions)})"


def _replace_check(actions: tuple[str, ...]) -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(op.f("ck_audit_log_action"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_log_action"), _check(actions))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    # The older schema has no action for a refused access: those rows cannot be kept
    # under its constraint.
    op.execute("DELETE FROM audit_log WHERE action = 'refused'")
    _replace_check(BEFORE)
