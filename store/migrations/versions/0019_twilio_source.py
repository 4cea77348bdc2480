"""Transfer source ``twilio``: a record concluded from Twilio's callbacks (conference and
participant events) or from a console action on the Twilio back end, so the records
export says which back end carried the call.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("ami", "cel", "action")
AFTER = (*BEFORE, "twilio")


def _check(sources: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(s) for s in sources)})"


def _replace_check(sources: tuple[str, ...]) -> None:
    with op.batch_alter_table("transfer_records") as batch:
        batch.drop_constraint(op.f("ck_transfer_records_source"), type_="check")
        batch.create_check_constraint(op.f("ck_transfer_records_source"), _check(sources))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    # Before this revision Twilio's records were written as our own actions.
    op.execute("UPDATE transfer_records SET source = 'action' WHERE source = 'twilio'")
    _replace_check(BEFORE)
