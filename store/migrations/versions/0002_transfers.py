"""Transfer records, navigators, the listener's command table and status row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "navigators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("phone_endpoint", sa.String(length=120), nullable=False),
        sa.Column("queue_interface", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_navigators")),
        sa.UniqueConstraint("username", name=op.f("uq_navigators_username")),
        sa.UniqueConstraint("phone_endpoint", name=op.f("uq_navigators_phone_endpoint")),
        sa.UniqueConstraint("queue_interface", name=op.f("uq_navigators_queue_interface")),
    )
    op.create_table(
        "transfer_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=True),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("navigator_id", sa.Integer(), nullable=True),
        sa.Column("navigator_channel", sa.String(length=200), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=True),
        sa.Column("target_exten", sa.String(length=80), nullable=False),
        sa.Column("target_context", sa.String(length=80), nullable=False),
        sa.Column("answer_delay_s", sa.Double(), nullable=True),
        sa.Column("caller_uniqueid", sa.String(length=64), nullable=True),
        sa.Column(
            "caller_number",
            sa.String(length=40),
            nullable=True,
            comment="personal data: for the console and the retention job only, never reports",
        ),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=80), nullable=True),
        sa.Column("interpreter", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('attended', 'blind', 'threeway', 'referral')",
            name=op.f("ck_transfer_records_kind"),
        ),
        sa.CheckConstraint(
            "outcome IN ('completed', 'abandoned', 'busy', 'not_answered', 'failed')",
            name=op.f("ck_transfer_records_outcome"),
        ),
        sa.CheckConstraint(
            "source IN ('ami', 'cel', 'action')", name=op.f("ck_transfer_records_source")
        ),
        sa.CheckConstraint(
            "local_hour BETWEEN 0 AND 23", name=op.f("ck_transfer_records_local_hour")
        ),
        sa.ForeignKeyConstraint(
            ["navigator_id"],
            ["navigators.id"],
            name=op.f("fk_transfer_records_navigator_id_navigators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_records")),
        sa.UniqueConstraint("key", name=op.f("uq_transfer_records_key")),
    )
    op.create_index(
        "ix_transfer_records_fiscal_year_destination_kind",
        "transfer_records",
        ["fiscal_year", "destination", "kind"],
        unique=False,
    )
    op.create_index(
        "ix_transfer_records_navigator_id_local_date",
        "transfer_records",
        ["navigator_id", "local_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_transfer_records_local_date"), "transfer_records", ["local_date"], unique=False
    )
    op.create_index(
        op.f("ix_transfer_records_linkedid"), "transfer_records", ["linkedid"], unique=False
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("completed_at", UTC_TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'ok', 'error', 'expired')",
            name=op.f("ck_commands_status"),
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_commands_expires_after_creation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    op.create_index(
        "ix_commands_status_expires_at", "commands", ["status", "expires_at"], unique=False
    )
    op.create_table(
        "listener_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("since", UTC_TS, nullable=False),
        sa.Column("heartbeat_at", UTC_TS, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_listener_status_singleton")),
        sa.CheckConstraint(
            "state IN ('connecting', 'connected', 'disconnected', 'stopped')",
            name=op.f("ck_listener_status_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listener_status")),
    )


def downgrade() -> None:
    op.drop_table("listener_status")
    op.drop_index("ix_commands_status_expires_at", table_name="commands")
    op.drop_table("commands")
    op.drop_index(op.f("ix_transfer_records_linkedid"), table_name="transfer_records")
    op.drop_index(op.f("ix_transfer_records_local_date"), table_name="transfer_records")
    op.drop_index("ix_transfer_records_navigator_id_local_date", table_name="transfer_records")
    op.drop_index(
        "ix_transfer_records_fiscal_year_destination_kind", table_name="transfer_records"
    )
    op.drop_table("transfer_records")
    op.drop_table("navigators")
