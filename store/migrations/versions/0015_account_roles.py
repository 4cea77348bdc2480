"""Accounts hold a set of roles: one boolean column per role instead of ``users.role``.

A director may be both manager and administrator; the research role stays apart (an
account holding it holds no other: no one outside the research team reads a message),
and the database itself refuses an account without a role or with research and another.
Every existing account keeps exactly the role it had.

The downgrade goes back to one role per account; an account holding several keeps the
first of administrator, manager, navigator (the older schema cannot hold more), and its
navigator tie is kept as it is.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("manager", "navigator", "research", "admin")
#: Which single role an account holding several keeps on a downgrade.
DOWNGRADE_ORDER = ("admin", "manager", "navigator", "research")


def _column(role: str) -> str:
    return f"role_{role}"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for role in ROLES:
            batch.add_column(
                sa.Column(_column(role), sa.Boolean(), nullable=False, server_default=sa.false())
            )
    for role in ROLES:
        op.execute(
            sa.text(f"UPDATE users SET {_column(role)} = :yes WHERE role = :role").bindparams(
                yes=True, role=role
            )
        )
    others = " OR ".join(_column(r) for r in ROLES if r != "research")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.drop_column("role")
        batch.create_check_constraint(
            op.f("ck_users_some_role"), " OR ".join(_column(r) for r in ROLES)
        )
        batch.create_check_constraint(
            op.f("ck_users_research_apart"), f"NOT role_research OR NOT ({others})"
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=True))
    whens = " ".join(f"WHEN {_column(r)} THEN '{r}'" for r in DOWNGRADE_ORDER)
    op.execute(f"UPDATE users SET role = CASE {whens} END")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_research_apart"), type_="check")
        batch.drop_constraint(op.f("ck_users_some_role"), type_="check")
        for role in ROLES:
            batch.drop_column(_column(role))
        batch.alter_column("role", existing_type=sa.String(length=16), nullable=False)
        batch.create_check_constraint(
            op.f("ck_users_role"), "role IN ('manager', 'navigator', 'research', 'admin')"
        )
