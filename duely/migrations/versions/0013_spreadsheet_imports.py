"""Spreadsheet imports (issue 16): each upload checked before it is written
(`spreadsheet_imports`, `spreadsheet_problems`), the columns an organisation confirmed
(`spreadsheet_columns`), and what confirmed imports say, the organisation's own small ledger
(`spreadsheet_customers`, `spreadsheet_invoices`) with its card payments
(`spreadsheet_receipts`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 16:50:20.673725
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import duely.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spreadsheet_columns",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mapping", sa.Text(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "kind"),
    )
    with op.batch_alter_table("spreadsheet_columns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_columns_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "spreadsheet_customers",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("contact_name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("updated_at", duely.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "code"),
    )
    with op.batch_alter_table("spreadsheet_customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_customers_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_customers_organisation_id"),
            ["organisation_id"],
            unique=False,
        )

    op.create_table(
        "spreadsheet_imports",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("stored_as", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mapping", sa.Text(), server_default="{}", nullable=False),
        sa.Column("date_order", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_ok", sa.Integer(), nullable=False),
        sa.Column("rows_bad", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("created_at", duely.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", duely.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", duely.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("spreadsheet_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_imports_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_imports_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "spreadsheet_invoices",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("customer_code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("updated_at", duely.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "number"),
    )
    with op.batch_alter_table("spreadsheet_invoices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_invoices_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_invoices_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "spreadsheet_receipts",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("invoice_number", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("customer_code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("created_at", duely.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "reference"),
    )
    with op.batch_alter_table("spreadsheet_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_receipts_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_receipts_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "spreadsheet_problems",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["spreadsheet_imports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("spreadsheet_problems", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_problems_import_id"), ["import_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spreadsheet_problems_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("spreadsheet_problems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_problems_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_spreadsheet_problems_import_id"))

    op.drop_table("spreadsheet_problems")
    with op.batch_alter_table("spreadsheet_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_receipts_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_spreadsheet_receipts_connection_id"))

    op.drop_table("spreadsheet_receipts")
    with op.batch_alter_table("spreadsheet_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_invoices_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_spreadsheet_invoices_connection_id"))

    op.drop_table("spreadsheet_invoices")
    with op.batch_alter_table("spreadsheet_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_imports_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_spreadsheet_imports_connection_id"))

    op.drop_table("spreadsheet_imports")
    with op.batch_alter_table("spreadsheet_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_customers_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_spreadsheet_customers_connection_id"))

    op.drop_table("spreadsheet_customers")
    with op.batch_alter_table("spreadsheet_columns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spreadsheet_columns_organisation_id"))

    op.drop_table("spreadsheet_columns")
