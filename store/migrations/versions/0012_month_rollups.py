"""Monthly sums of the daily call and activity roll-ups (``*_month_rollups``): a whole
month of a report period is read from them. Filled by ``ivr211 calls rebuild-rollups``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "received",
    "closed",
    "fallback",
    "research",
    "offered",
    "answered",
    "abandoned",
    "timeout",
    "closing",
    "leaveempty",
    "joinempty",
    "full",
)


def _key(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), autoincrement=False, nullable=False)


def upgrade() -> None:
    op.create_table(
        "call_hour_month_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        _key("local_hour"),
        sa.Column("language", sa.String(length=12), nullable=False),
        _key("local_weekday"),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("wait_answered_s", sa.Double(), nullable=False),
        sa.Column("wait_max_s", sa.Double(), nullable=True),
        sa.Column("talk_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date",
            "local_hour",
            "language",
            "local_weekday",
            name=op.f("pk_call_hour_month_rollups"),
        ),
    )
    op.create_table(
        "call_wait_month_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        _key("seconds"),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "outcome", "seconds", name=op.f("pk_call_wait_month_rollups")
        ),
    )
    op.create_table(
        "call_path_month_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("line_state", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("route", sa.String(length=12), nullable=False),
        sa.Column("route_destination", sa.String(length=40), nullable=False),
        sa.Column("exit_route", sa.String(length=40), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date",
            "line_state",
            "path",
            "route",
            "route_destination",
            "exit_route",
            name=op.f("pk_call_path_month_rollups"),
        ),
    )
    op.create_table(
        "call_navigator_month_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        _key("navigator_key"),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("talk_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "navigator_key", name=op.f("pk_call_navigator_month_rollups")
        ),
    )
    op.create_table(
        "activity_month_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        _key("local_hour"),
        _key("navigator_key"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date",
            "local_hour",
            "navigator_key",
            "state",
            name=op.f("pk_activity_month_rollups"),
        ),
    )


def downgrade() -> None:
    for table in (
        "activity_month_rollups",
        "call_navigator_month_rollups",
        "call_path_month_rollups",
        "call_wait_month_rollups",
        "call_hour_month_rollups",
    ):
        op.drop_table(table)
