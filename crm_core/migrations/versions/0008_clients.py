"""clients: the open line's settings and duty, client conversations and their messages, Telegram
Business connections

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client_channel",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("greeting_en", sa.Text(), nullable=False),
        sa.Column("greeting_ru", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("fixed_user_id", sa.Integer(), nullable=True),
        sa.Column("queue_minutes", sa.Integer(), nullable=False),
        sa.Column("last_routed_user_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["fixed_user_id"],
            ["users.id"],
            name=op.f("fk_client_channel_fixed_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_channel")),
    )
    op.create_table(
        "client_duty",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("since", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_client_duty_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_client_duty")),
    )
    op.create_table(
        "client_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("business_connection_id", sa.String(length=100), nullable=True),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("routed_at", TZ, nullable=True),
        sa.Column("tried_user_ids", sa.JSON(), nullable=False),
        sa.Column("last_incoming_at", TZ, nullable=True),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("do_not_log", sa.Boolean(), nullable=False),
        sa.Column("greeted", sa.Boolean(), nullable=False),
        sa.Column("window_start", TZ, nullable=True),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.Column("slowed", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["responsible_id"],
            ["users.id"],
            name=op.f("fk_client_chats_responsible_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_chats")),
        sa.UniqueConstraint("channel", "chat_id", name="uq_client_chats_channel_chat"),
    )
    op.create_index("ix_client_chats_owner", "client_chats", ["owner_type", "owner_id"])
    op.create_index("ix_client_chats_queue", "client_chats", ["accepted", "routed_at"])
    op.create_index(op.f("ix_client_chats_telegram_user_id"), "client_chats", ["telegram_user_id"])
    op.create_table(
        "client_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_chat_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("edited_at", TZ, nullable=True),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_chat_id"],
            ["client_chats.id"],
            name=op.f("fk_client_messages_client_chat_id_client_chats"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_client_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_messages")),
        sa.UniqueConstraint("channel", "chat_id", "message_id", name="uq_client_messages_key"),
    )
    op.create_index(op.f("ix_client_messages_client_chat_id"), "client_messages", ["client_chat_id"])
    op.create_table(
        "business_connections",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("user_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("can_reply", sa.Boolean(), nullable=False),
        sa.Column("rights", sa.JSON(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_business_connections_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_connections")),
    )
    op.create_index(op.f("ix_business_connections_user_id"), "business_connections", ["user_id"])


def downgrade() -> None:
    op.drop_table("business_connections")
    op.drop_table("client_messages")
    op.drop_table("client_chats")
    op.drop_table("client_duty")
    op.drop_table("client_channel")
