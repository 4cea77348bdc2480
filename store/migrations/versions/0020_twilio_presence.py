"""The navigators' presence on the Twilio line (``store.twilio_presence``): logged in,
paused with a reason, or logged out (no row). Its own table, so the AMI listener's
snapshot, which replaces ``navigator_presence`` wholesale, never erases it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "twilio_presence",
        sa.Column("navigator_id", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(length=200), nullable=False),
        sa.Column("logged_in_at", UTC_TS, nullable=False),
        sa.Column("since", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["navigator_id"],
            ["navigators.id"],
            name=op.f("fk_twilio_presence_navigator_id_navigators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("navigator_id", name=op.f("pk_twilio_presence")),
    )


def downgrade() -> None:
    op.drop_table("twilio_presence")
