"""Payments: each organisation's Stripe configuration and payment accounts, payments placed per
invoice (or unmatched) with their ledger bookkeeping, webhook retries, and alerts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:16:00.052264
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import duely.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", _text(200), nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("detail", _text(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", duely.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", duely.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "key"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_organisation_id", ["organisation_id"], unique=False)

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        for name, length in (
            ("stripe_secret_key_encrypted", None),
            ("stripe_account_id", 64),
            ("stripe_publishable_key", 200),
            ("stripe_webhook_secret_encrypted", None),
            ("payment_accounts", 500),
        ):
            batch_op.add_column(sa.Column(name, _text(length), nullable=False, server_default=""))

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_ref", _text(64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reference", _text(200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", _text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("updated_at", duely.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_payments_customer_id", ["customer_id"], unique=False)
        batch_op.create_unique_constraint(
            "uq_payments_source_payment_invoice",
            ["organisation_id", "source", "external_id", "invoice_ref"],
        )
        batch_op.create_foreign_key("fk_payments_customer_id", "customers", ["customer_id"], ["id"])

    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", _text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint("fk_payments_customer_id", type_="foreignkey")
        batch_op.drop_constraint("uq_payments_source_payment_invoice", type_="unique")
        batch_op.drop_index("ix_payments_customer_id")
        for name in (
            "updated_at",
            "last_error",
            "attempts",
            "reference",
            "paid_on",
            "customer_id",
            "invoice_ref",
        ):
            batch_op.drop_column(name)

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        for name in (
            "payment_accounts",
            "stripe_webhook_secret_encrypted",
            "stripe_publishable_key",
            "stripe_account_id",
            "stripe_secret_key_encrypted",
        ):
            batch_op.drop_column(name)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_organisation_id")
    op.drop_table("alerts")
