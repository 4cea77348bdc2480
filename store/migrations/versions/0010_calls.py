"""Call records (``calls``): one per caller's call, merged from the flow, AMI, queue_log
and CEL; navigator activity intervals (``navigator_activity``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)

LINE_STATES = ("hours", "after_hours", "holiday", "closure", "override_open", "override_closed")
LANGUAGES = ("fr", "en", "interpreter", "none")
ROUTES = ("queue", "research", "transfer", "closed", "hangup", "fallback")
QUEUE_OUTCOMES = (
    "answered",
    "abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "joinempty",
    "full",
)
ACTIVITY_STATES = ("logged_in", "paused", "ringing", "on_call", "after_call_work")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("caller_uniqueid", sa.String(length=64), nullable=True),
        sa.Column("arrived_at", UTC_TS, nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), nullable=False),
        sa.Column("local_weekday", sa.Integer(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=True),
        sa.Column("line_state", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=12), nullable=True),
        sa.Column("path", sa.String(length=200), nullable=True),
        sa.Column("route", sa.String(length=12), nullable=True),
        sa.Column("route_destination", sa.String(length=40), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("queue_joined_at", UTC_TS, nullable=True),
        sa.Column("queue_position", sa.Integer(), nullable=True),
        sa.Column("queue_outcome", sa.String(length=12), nullable=True),
        sa.Column("queue_left_at", UTC_TS, nullable=True),
        sa.Column("wait_s", sa.Double(), nullable=True),
        sa.Column("ring_s", sa.Double(), nullable=True),
        sa.Column("navigator_id", sa.Integer(), nullable=True),
        sa.Column("answered_member", sa.String(length=200), nullable=True),
        sa.Column("talk_s", sa.Double(), nullable=True),
        sa.Column("completed_by", sa.String(length=16), nullable=True),
        sa.Column("exit_route", sa.String(length=40), nullable=True),
        sa.Column("research_message", sa.Boolean(), nullable=False),
        sa.Column(
            "caller_number",
            sa.String(length=40),
            nullable=True,
            comment="personal data: for the console and the retention job only, never reports",
        ),
        sa.Column("seen_flow", sa.Boolean(), nullable=False),
        sa.Column("seen_ami", sa.Boolean(), nullable=False),
        sa.Column("seen_queue_log", sa.Boolean(), nullable=False),
        sa.Column("seen_cel", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.CheckConstraint(_one_of("line_state", LINE_STATES), name=op.f("ck_calls_line_state")),
        sa.CheckConstraint(_one_of("language", LANGUAGES), name=op.f("ck_calls_language")),
        sa.CheckConstraint(_one_of("route", ROUTES), name=op.f("ck_calls_route")),
        sa.CheckConstraint(
            _one_of("queue_outcome", QUEUE_OUTCOMES), name=op.f("ck_calls_queue_outcome")
        ),
        sa.CheckConstraint("local_hour BETWEEN 0 AND 23", name=op.f("ck_calls_local_hour")),
        sa.CheckConstraint("local_weekday BETWEEN 0 AND 6", name=op.f("ck_calls_local_weekday")),
        sa.ForeignKeyConstraint(
            ["navigator_id"],
            ["navigators.id"],
            name=op.f("fk_calls_navigator_id_navigators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_calls_linkedid")),
    )
    op.create_index(op.f("ix_calls_local_date"), "calls", ["local_date"])
    op.create_index("ix_calls_fiscal_year_local_date", "calls", ["fiscal_year", "local_date"])
    op.create_index("ix_calls_navigator_id_local_date", "calls", ["navigator_id", "local_date"])
    op.create_table(
        "navigator_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("navigator_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            _one_of("state", ACTIVITY_STATES), name=op.f("ck_navigator_activity_state")
        ),
        sa.CheckConstraint(
            "ended_at >= started_at", name=op.f("ck_navigator_activity_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["navigator_id"],
            ["navigators.id"],
            name=op.f("fk_navigator_activity_navigator_id_navigators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_navigator_activity")),
        sa.UniqueConstraint("key", name=op.f("uq_navigator_activity_key")),
    )
    op.create_index(
        "ix_navigator_activity_navigator_id_local_date",
        "navigator_activity",
        ["navigator_id", "local_date"],
    )


def downgrade() -> None:
    op.drop_index("ix_navigator_activity_navigator_id_local_date", table_name="navigator_activity")
    op.drop_table("navigator_activity")
    op.drop_index("ix_calls_navigator_id_local_date", table_name="calls")
    op.drop_index("ix_calls_fiscal_year_local_date", table_name="calls")
    op.drop_index(op.f("ix_calls_local_date"), table_name="calls")
    op.drop_table("calls")
