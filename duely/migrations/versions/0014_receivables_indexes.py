"""The receivables pages at 100,000 invoices (issue 17): three indexes on `invoices` so that
the invoice list's first page and its count, the dashboard's aging per currency and the
currency menu read an index range instead of every invoice of the organisation.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        # Open invoices oldest due first, a page at a time (and counted) without a sort.
        batch_op.create_index(
            "ix_invoices_list_order", ["organisation_id", "status", "due_date", "id"]
        )
        # Covers the dashboard's aging: count and sum per currency and due date, in order.
        batch_op.create_index(
            "ix_invoices_aging",
            ["organisation_id", "status", "currency", "due_date", "amount_due"],
        )
        # The currencies an organisation invoices in, one index probe per currency.
        batch_op.create_index("ix_invoices_currencies", ["organisation_id", "currency"])


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_currencies")
        batch_op.drop_index("ix_invoices_aging")
        batch_op.drop_index("ix_invoices_list_order")
