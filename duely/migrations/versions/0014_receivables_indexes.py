"""The receivables pages at 100,000 invoices (issue 17): indexes on `invoices` so that the
invoice lists' first pages and their counts (of one status, of any status, of one customer),
the dashboard's aging per currency and the currency menu read an index range instead of every
invoice of the organisation. The customer index leads with `customer_id`, so it replaces
ix_invoices_customer_id (the foreign key's lookups use it the same way).

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
        # Invoices of one status (open by default) oldest due first, a page at a time and
        # counted, without a sort.
        batch_op.create_index(
            "ix_invoices_list_order", ["organisation_id", "status", "due_date", "id"]
        )
        # The same for "any status".
        batch_op.create_index("ix_invoices_any_status_order", ["organisation_id", "due_date", "id"])
        # One customer's invoices (its page, its balance, the list filtered to it).
        batch_op.create_index(
            "ix_invoices_customer_order",
            ["customer_id", "organisation_id", "status", "due_date", "id"],
        )
        batch_op.drop_index("ix_invoices_customer_id")
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
        batch_op.create_index("ix_invoices_customer_id", ["customer_id"])
        batch_op.drop_index("ix_invoices_customer_order")
        batch_op.drop_index("ix_invoices_any_status_order")
        batch_op.drop_index("ix_invoices_list_order")
