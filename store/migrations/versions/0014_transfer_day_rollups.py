"""The transfer reports from roll-ups: records per local date, destination, kind and
outcome (``transfer_day_rollups``), transfers and referrals per local date and hour
(``transfer_hour_rollups``), the answer delays (``transfer_delay_rollups``), and the
transfer attempts beside the transfers and referrals per navigator
(``transfer_navigator_rollups``, rebuilt with its new column). All four are filled here
from the transfer records, so the reports are whole right after the upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As store.transfer_rollups counts them, written out: a migration does not follow the code.
_DONE = "outcome = 'completed'"
_BASCULE = "kind IN ('attended', 'blind', 'threeway')"
_TRANSFER = f"CASE WHEN {_DONE} AND {_BASCULE} THEN 1 ELSE 0 END"
_REFERRAL = f"CASE WHEN {_DONE} AND kind = 'referral' THEN 1 ELSE 0 END"
_FILL = {
    "transfer_day_rollups": f"""
        SELECT local_date, COALESCE(destination, ''), kind, outcome, COUNT(*)
        FROM transfer_records GROUP BY local_date, COALESCE(destination, ''), kind, outcome""",
    "transfer_hour_rollups": f"""
        SELECT local_date, local_hour, SUM({_TRANSFER}), SUM({_REFERRAL})
        FROM transfer_records
        WHERE {_DONE} AND kind IN ('attended', 'blind', 'threeway', 'referral')
        GROUP BY local_date, local_hour""",
    "transfer_navigator_rollups": f"""
        SELECT local_date, COALESCE(navigator_id, 0), SUM({_TRANSFER}), SUM({_REFERRAL}),
               SUM(CASE WHEN {_BASCULE} THEN 1 ELSE 0 END)
        FROM transfer_records GROUP BY local_date, COALESCE(navigator_id, 0)""",
    "transfer_delay_rollups": f"""
        SELECT local_date, COALESCE(destination, ''), {{seconds}}, COUNT(*)
        FROM transfer_records
        WHERE {_BASCULE} AND answer_delay_s IS NOT NULL
          AND outcome NOT IN ('busy', 'not_answered')
        GROUP BY local_date, COALESCE(destination, ''), {{seconds}}""",
}
# The delay rounded to the nearest second, a half up (SQLite's CAST truncates).
_SECONDS = {
    "postgresql": "CAST(FLOOR(answer_delay_s + 0.5) AS INTEGER)",
    "sqlite": "CAST(answer_delay_s + 0.5 AS INTEGER)",
}


def _navigator_table(*, attempts: bool) -> None:
    op.create_table(
        "transfer_navigator_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("navigator_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        *([sa.Column("attempts", sa.Integer(), nullable=False)] if attempts else []),
        sa.PrimaryKeyConstraint(
            "local_date", "navigator_key", name=op.f("pk_transfer_navigator_rollups")
        ),
    )


def upgrade() -> None:
    op.create_table(
        "transfer_day_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "destination", "kind", "outcome", name=op.f("pk_transfer_day_rollups")
        ),
    )
    op.create_table(
        "transfer_hour_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("local_date", "local_hour", name=op.f("pk_transfer_hour_rollups")),
    )
    op.create_table(
        "transfer_delay_rollups",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("seconds", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "local_date", "destination", "seconds", name=op.f("pk_transfer_delay_rollups")
        ),
    )
    op.drop_table("transfer_navigator_rollups")
    _navigator_table(attempts=True)
    seconds = _SECONDS[op.get_bind().dialect.name]
    for table, query in _FILL.items():
        op.execute(f"INSERT INTO {table} {query.replace('{seconds}', seconds)}")


def downgrade() -> None:
    op.drop_table("transfer_navigator_rollups")
    _navigator_table(attempts=False)
    op.execute(
        "INSERT INTO transfer_navigator_rollups"
        f" SELECT local_date, COALESCE(navigator_id, 0), SUM({_TRANSFER}), SUM({_REFERRAL})"
        f" FROM transfer_records WHERE {_DONE} GROUP BY local_date, COALESCE(navigator_id, 0)"
    )
    op.drop_table("transfer_delay_rollups")
    op.drop_table("transfer_hour_rollups")
    op.drop_table("transfer_day_rollups")
