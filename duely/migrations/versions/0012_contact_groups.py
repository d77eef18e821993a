"""Schedules assigned by the ledger's contact groups (issue 14): each customer's groups as the
last sync read them (`customer_groups`), and the group a schedule is for
(`schedules.contact_group`, "" for none).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_groups",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "name"),
    )
    with op.batch_alter_table("customer_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_groups_connection_id"), ["connection_id"])
        batch_op.create_index(batch_op.f("ix_customer_groups_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_customer_groups_organisation_id"), ["organisation_id"])
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "contact_group",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("contact_group")
    op.drop_table("customer_groups")
