"""The navigators on the Twilio back end: where Twilio calls each navigator
(``navigators.twilio_address``) and the conference of each call a navigator took
(``store.twilio_conferences``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("navigators") as batch:
        batch.add_column(sa.Column("twilio_address", sa.String(length=120), nullable=True))
    op.create_table(
        "twilio_conferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller_sid", sa.String(length=64), nullable=False),
        sa.Column("conference_sid", sa.String(length=64), nullable=True),
        sa.Column("navigator_user", sa.String(length=100), nullable=False),
        sa.Column("navigator_endpoint", sa.String(length=120), nullable=False),
        sa.Column("navigator_sid", sa.String(length=64), nullable=True),
        sa.Column("line_number", sa.String(length=40), nullable=False),
        sa.Column("taken_at", UTC_TS, nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=True),
        sa.Column("service_sid", sa.String(length=64), nullable=True),
        sa.Column("destination", sa.String(length=40), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=40), nullable=True),
        sa.Column("consult_started_at", UTC_TS, nullable=True),
        sa.Column("service_answered_at", UTC_TS, nullable=True),
        sa.Column("consult_state", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_conferences")),
        sa.UniqueConstraint("caller_sid", name=op.f("uq_twilio_conferences_caller_sid")),
    )
    op.create_index(
        "ix_twilio_conferences_navigator_user", "twilio_conferences", ["navigator_user"]
    )
    op.create_index("ix_twilio_conferences_service_sid", "twilio_conferences", ["service_sid"])


def downgrade() -> None:
    op.drop_index("ix_twilio_conferences_service_sid", table_name="twilio_conferences")
    op.drop_index("ix_twilio_conferences_navigator_user", table_name="twilio_conferences")
    op.drop_table("twilio_conferences")
    with op.batch_alter_table("navigators") as batch:
        batch.drop_column("twilio_address")
