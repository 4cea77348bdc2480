"""Roll-ups of the call records per local day (``call_hour_rollups``,
``call_wait_rollups``, ``call_path_rollups``, ``call_navigator_rollups``) and of
navigator activity per local hour (``activity_rollups``). Calls written before this
revision are summed by ``ivr211 calls rebuild-rollups``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
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


def upgrade() -> None:
    op.create_table(
        "call_hour_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("local_weekday", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("wait_answered_s", sa.Double(), nullable=False),
        sa.Column("wait_max_s", sa.Double(), nullable=True),
        sa.Column("talk_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "local_hour", "language", name=op.f("pk_call_hour_rollups")
        ),
    )
    op.create_table(
        "call_wait_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("seconds", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "outcome", "seconds", name=op.f("pk_call_wait_rollups")
        ),
    )
    op.create_table(
        "call_path_rollups",
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
            name=op.f("pk_call_path_rollups"),
        ),
    )
    op.create_table(
        "call_navigator_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("navigator_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("talk_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "navigator_key", name=op.f("pk_call_navigator_rollups")
        ),
    )
    op.create_table(
        "activity_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("navigator_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "local_hour", "navigator_key", "state", name=op.f("pk_activity_rollups")
        ),
    )


def downgrade() -> None:
    for table in (
        "activity_rollups",
        "call_navigator_rollups",
        "call_path_rollups",
        "call_wait_rollups",
        "call_hour_rollups",
    ):
        op.drop_table(table)
