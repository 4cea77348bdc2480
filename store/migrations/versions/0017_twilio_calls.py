"""The Twilio back end's calls: the state of each call between two of its webhooks,
keyed on Twilio's CallSid (``store.twilio_calls``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "twilio_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("arrived_at", UTC_TS, nullable=False),
        sa.Column("pass_started_at", UTC_TS, nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("entry", sa.String(length=32), nullable=False),
        sa.Column("entry_language", sa.String(length=8), nullable=False),
        sa.Column(
            "caller_number",
            sa.String(length=40),
            nullable=True,
            comment="personal data: purged with the row",
        ),
        sa.Column("dialed_number", sa.String(length=40), nullable=True),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("action_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "decision",
            sa.Text(),
            nullable=True,
            comment="personal data (the callback number): purged with the row",
        ),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=True),
        sa.Column("end_status", sa.String(length=16), nullable=True),
        sa.CheckConstraint("passes >= 1", name=op.f("ck_twilio_calls_passes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_twilio_calls_call_sid")),
    )
    op.create_index("ix_twilio_calls_ended_at", "twilio_calls", ["ended_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_twilio_calls_ended_at", table_name="twilio_calls")
    op.drop_table("twilio_calls")
