"""Chasing: message kinds and delivery bookkeeping, events linked to messages, the
organisation's holiday region, send days, sender address and statement day; a customer's
chasing switch may follow the organisation (NULL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:06:00.148849
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A customer's chasing switch gains "follow the organisation" (NULL). Until now no person
    # could set it, so every stored value is a default and becomes NULL.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("chasing_enabled", existing_type=sa.Boolean(), nullable=True)
    op.execute("UPDATE customers SET chasing_enabled = NULL")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_events_message_id", "messages", ["message_id"], ["id"])

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="reminder",
            )
        )
        batch_op.add_column(
            sa.Column(
                "batch_ref",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "subdivision",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "sender_email",
                sqlmodel.sql.sqltypes.AutoString(length=320),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("statement_day", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "send_days",
                sqlmodel.sql.sqltypes.AutoString(length=7),
                nullable=False,
                server_default="12345",
            )
        )


def downgrade() -> None:
    op.execute("UPDATE customers SET chasing_enabled = TRUE WHERE chasing_enabled IS NULL")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("chasing_enabled", existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("send_days")
        batch_op.drop_column("statement_day")
        batch_op.drop_column("sender_email")
        batch_op.drop_column("subdivision")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("batch_ref")
        batch_op.drop_column("kind")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_events_message_id", type_="foreignkey")
        batch_op.drop_column("message_id")
