"""The chase shows up inside the ledger (issue 14): each timeline line worth a bookkeeper's
eye is written as a note on the invoice's history in the ledger. `events.ledger_noted_at` says
when the ledger-notes sweep dealt with a line (written, or passed over); null means not yet.

Lines written before this migration are marked dealt with: the sweep starts from now rather
than posting months of old chases into every connected ledger at once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import duely.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ledger_noted_at", duely.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_events_ledger_noted_at"), ["ledger_noted_at"], unique=False
        )
    op.get_bind().execute(sa.text("UPDATE events SET ledger_noted_at = occurred_at"))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_ledger_noted_at"))
        batch_op.drop_column("ledger_noted_at")
