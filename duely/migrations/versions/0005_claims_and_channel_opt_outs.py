"""Trust in the engine: a message being delivered and a payment being placed are claimed for a
short lease (so two attempts can never both act), and a customer's opt-out is kept per channel
(an SMS START must not undo an email unsubscribe).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import duely.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> duely.models.base.UTCDateTime:
    return duely.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", _instant(), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placing_until", _instant(), nullable=True))
    # Until now one field held both: an opt-out stopped every channel, so it carries over to
    # both (a customer who only replied STOP can be opted back into email by a person).
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("opted_out_at", new_column_name="email_opted_out_at")
        batch_op.add_column(sa.Column("sms_opted_out_at", _instant(), nullable=True))
    op.execute("UPDATE customers SET sms_opted_out_at = email_opted_out_at")


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("sms_opted_out_at")
        batch_op.alter_column("email_opted_out_at", new_column_name="opted_out_at")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("placing_until")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
