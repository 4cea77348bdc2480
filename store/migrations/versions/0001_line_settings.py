"""Line settings: hours, holidays, closures, override, destinations, options, version.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settings_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTC_TS, nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_settings_version_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settings_version")),
    )
    op.create_table(
        "line_options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("queue_name", sa.String(length=80), nullable=False),
        sa.Column("research_mailbox", sa.String(length=80), nullable=False),
        sa.Column("menu_max_attempts", sa.Integer(), nullable=False),
        sa.Column("menu_digit_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("closed_research_key", sa.String(length=1), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_line_options_singleton")),
        sa.CheckConstraint(
            "menu_digit_timeout_ms BETWEEN 1000 AND 30000",
            name=op.f("ck_line_options_menu_digit_timeout_ms"),
        ),
        sa.CheckConstraint(
            "menu_max_attempts >= 1", name=op.f("ck_line_options_menu_max_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_options")),
    )
    op.create_table(
        "opening_hours",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("opens", sa.Time(), nullable=True),
        sa.Column("closes", sa.Time(), nullable=True),
        sa.CheckConstraint(
            "day IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'holiday')",
            name=op.f("ck_opening_hours_day"),
        ),
        sa.CheckConstraint(
            "(opens IS NULL AND closes IS NULL)"
            " OR (opens IS NOT NULL AND closes IS NOT NULL AND closes > opens)",
            name=op.f("ck_opening_hours_times"),
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_opening_hours")),
    )
    op.create_table(
        "holiday_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("subdivision", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.String(length=200), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_holiday_rules_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_rules")),
    )
    op.create_table(
        "holiday_dates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.CheckConstraint("action IN ('add', 'remove')", name=op.f("ck_holiday_dates_action")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_holiday_dates")),
    )
    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTC_TS, nullable=False),
        sa.Column("ends_at", UTC_TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_closures_ends_after_start")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
    )
    op.create_index(op.f("ix_closures_starts_at"), "closures", ["starts_at"], unique=False)
    op.create_table(
        "line_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("until", UTC_TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", UTC_TS, nullable=True),
        sa.CheckConstraint(
            "mode IS NULL OR mode IN ('open', 'closed')", name=op.f("ck_line_override_mode")
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_line_override_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_override")),
    )
    op.create_table(
        "destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label_fr", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("report_group", sa.String(length=40), nullable=False),
        sa.Column("short_code", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('emergency', 'partner')", name=op.f("ck_destinations_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
        sa.UniqueConstraint("key", name=op.f("uq_destinations_key")),
        sa.UniqueConstraint("short_code", name=op.f("uq_destinations_short_code")),
    )
    op.create_table(
        "destination_numbers",
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("territory", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_destination_numbers_destination_id_destinations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("destination_id", "territory", name=op.f("pk_destination_numbers")),
    )
    op.create_table(
        "closed_menu_keys",
        sa.Column("digit", sa.String(length=1), nullable=False),
        sa.Column("destination_key", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["destination_key"],
            ["destinations.key"],
            name=op.f("fk_closed_menu_keys_destination_key_destinations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("digit", name=op.f("pk_closed_menu_keys")),
    )


def downgrade() -> None:
    op.drop_table("closed_menu_keys")
    op.drop_table("destination_numbers")
    op.drop_table("destinations")
    op.drop_table("line_override")
    op.drop_index(op.f("ix_closures_starts_at"), table_name="closures")
    op.drop_table("closures")
    op.drop_table("holiday_dates")
    op.drop_table("holiday_rules")
    op.drop_table("opening_hours")
    op.drop_table("line_options")
    op.drop_table("settings_version")
