"""The research voicemail box: messages, notes, and the audit log of personal-data access.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-19
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)
PURGED = "personal data: purged with the message"


def upgrade() -> None:
    op.create_table(
        "voice_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox", sa.String(length=80), nullable=False),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=True, comment=PURGED),
        sa.Column("caller_number", sa.String(length=40), nullable=True, comment=PURGED),
        sa.Column("callback_number", sa.String(length=40), nullable=True, comment=PURGED),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("audio_path", sa.String(length=300), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("handled_at", UTC_TS, nullable=True),
        sa.Column("ingested_at", UTC_TS, nullable=False),
        sa.Column("deleted_at", UTC_TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('new', 'in_progress', 'called_back', 'closed')",
            name=op.f("ck_voice_messages_status"),
        ),
        sa.CheckConstraint("duration_s >= 0", name=op.f("ck_voice_messages_duration_s")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_voice_messages_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_messages")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_voice_messages_msg_id")),
    )
    op.create_index(
        op.f("ix_voice_messages_received_at"), "voice_messages", ["received_at"], unique=False
    )
    op.create_index(
        "ix_voice_messages_status_received_at",
        "voice_messages",
        ["status", "received_at"],
        unique=False,
    )
    op.create_table(
        "voice_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["voice_messages.id"],
            name=op.f("fk_voice_notes_message_id_voice_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_notes")),
    )
    op.create_index(op.f("ix_voice_notes_message_id"), "voice_notes", ["message_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "action IN ('list', 'view', 'play', 'download', 'delete', 'note', 'status',"
            " 'export', 'purge', 'ingest', 'login')",
            name=op.f("ck_audit_log_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_voice_notes_message_id"), table_name="voice_notes")
    op.drop_table("voice_notes")
    op.drop_index("ix_voice_messages_status_received_at", table_name="voice_messages")
    op.drop_index(op.f("ix_voice_messages_received_at"), table_name="voice_messages")
    op.drop_table("voice_messages")
