"""Transfers and referrals per local date and navigator (``transfer_navigator_rollups``),
and an index the staffing figures read alone. Filled by ``ivr211 calls rebuild-rollups``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfer_navigator_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("navigator_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "navigator_key", name=op.f("pk_transfer_navigator_rollups")
        ),
    )
    op.create_index(
        "ix_call_hour_rollups_queue", "call_hour_rollups", ["local_date", "local_hour", "offered"]
    )


def downgrade() -> None:
    op.drop_index("ix_call_hour_rollups_queue", table_name="call_hour_rollups")
    op.drop_table("transfer_navigator_rollups")
