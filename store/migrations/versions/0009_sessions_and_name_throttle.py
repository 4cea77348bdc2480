"""Dashboard sessions as rows (a logout ends its cookie); every name's login throttle
in ``login_throttle`` (``store.accounts``).

The users' own counters (``failed_logins``, ``locked_until``) go: a lock still running
moves to the name's ``login_throttle`` row; a count of failures not yet at the limit
starts again from zero.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])
    op.execute(
        'INSERT INTO login_throttle (scope, "key", failures, last_failure_at, locked_until)'
        " SELECT 'user', username, 0, locked_until, locked_until FROM users"
        " WHERE locked_until IS NOT NULL AND NOT EXISTS (SELECT 1 FROM login_throttle t"
        " WHERE t.scope = 'user' AND t.\"key\" = users.username)"
    )
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_failed_logins"), type_="check")
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("locked_until", UTC_TS, nullable=True))
        batch.create_check_constraint(op.f("ck_users_failed_logins"), "failed_logins >= 0")
    op.execute(
        "UPDATE users SET locked_until = (SELECT t.locked_until FROM login_throttle t"
        " WHERE t.scope = 'user' AND t.\"key\" = users.username)"
    )
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
