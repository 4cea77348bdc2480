"""The live state mirrored by the AMI listener: navigators' presence, callers waiting.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "navigator_presence",
        sa.Column("interface", sa.String(length=120), nullable=False),
        sa.Column("navigator_id", sa.Integer(), nullable=True),
        sa.Column("member_name", sa.String(length=200), nullable=False),
        sa.Column("queues", sa.String(length=500), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(length=200), nullable=False),
        sa.Column("on_call", sa.Boolean(), nullable=False),
        sa.Column("consulting", sa.Boolean(), nullable=False),
        sa.Column("navigator_channel", sa.String(length=200), nullable=True),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.Column("call_uniqueid", sa.String(length=64), nullable=True),
        sa.Column(
            "caller_number",
            sa.String(length=40),
            nullable=True,
            comment="personal data: shown to the navigator on the call only",
        ),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=80), nullable=True),
        sa.Column("interpreter", sa.Boolean(), nullable=False),
        sa.Column("waited_s", sa.Double(), nullable=True),
        sa.Column("call_started_at", UTC_TS, nullable=True),
        sa.Column("since", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["navigator_id"],
            ["navigators.id"],
            name=op.f("fk_navigator_presence_navigator_id_navigators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("interface", name=op.f("pk_navigator_presence")),
    )
    op.create_index(
        op.f("ix_navigator_presence_navigator_id"),
        "navigator_presence",
        ["navigator_id"],
        unique=False,
    )
    op.create_table(
        "queue_callers",
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTC_TS, nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=80), nullable=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("uniqueid", name=op.f("pk_queue_callers")),
    )
    op.create_table(
        "live_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("synced", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UTC_TS, nullable=True),
        sa.Column("written_at", UTC_TS, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_live_state_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_state")),
    )


def downgrade() -> None:
    op.drop_table("live_state")
    op.drop_table("queue_callers")
    op.drop_index(op.f("ix_navigator_presence_navigator_id"), table_name="navigator_presence")
    op.drop_table("navigator_presence")
