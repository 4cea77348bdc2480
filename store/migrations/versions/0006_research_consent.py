"""The research box's consent notice as a line setting (text in French and English,
retention period in days); NULL keeps the default text.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line_options") as batch:
        batch.add_column(sa.Column("consent_text_fr", sa.Text(), nullable=True))
        batch.add_column(sa.Column("consent_text_en", sa.Text(), nullable=True))
        batch.add_column(sa.Column("consent_retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("line_options") as batch:
        batch.drop_column("consent_retention_days")
        batch.drop_column("consent_text_en")
        batch.drop_column("consent_text_fr")
