"""Transfer outcome ``caller_hung_up``: the caller left during the consultation (an
attempt, never a bascule).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("completed", "abandoned", "busy", "not_answered", "failed")
AFTER = (*BEFORE, "caller_hung_up")


def _check(outcomes: tuple[str, ...]) -> str:
    return f"outcome IN ({', '.join(repr(o) for o in outcomes)})"


def _replace_check(outcomes: tuple[str, ...]) -> None:
    with op.batch_alter_table("transfer_records") as batch:
        batch.drop_constraint(op.f("ck_transfer_records_outcome"), type_="check")
        batch.create_check_constraint(op.f("ck_transfer_records_outcome"), _check(outcomes))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    # The records of a caller who hung up during the consultation have no older
    # outcome that says so: they become "abandoned" (an attempt, as they were).
    op.execute("UPDATE transfer_records SET outcome = 'abandoned' WHERE outcome = 'caller_hung_up'")
    _replace_check(BEFORE)
