"""A Stripe Connect account belongs to one organisation: its events route to that one owner.

Until now any admin could type any `acct_...` into the settings, and two organisations could
hold the same account (the second then received the first's payments). Accounts are now
linked only through Stripe's OAuth, and a unique index keeps one owner per account. If two
organisations already share one, the upgrade stops and names them: which one owns it is for a
person to decide (unlink it from the other with
`UPDATE organisations SET stripe_account_id = '' WHERE id = ...`), not for a migration.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKED = sa.text("stripe_account_id <> ''")


def upgrade() -> None:
    shared = op.get_bind().execute(
        sa.text(
            "SELECT stripe_account_id, COUNT(*) FROM organisations WHERE stripe_account_id <> '' "
            "GROUP BY stripe_account_id HAVING COUNT(*) > 1"
        )
    )
    problems = [f"{account} ({count} organisations)" for account, count in shared]
    if problems:
        raise RuntimeError(
            "These Stripe accounts are linked to more than one organisation: "
            + ", ".join(problems)
            + ". Unlink each from every organisation but its owner, then upgrade again."
        )
    op.create_index(
        "ux_organisations_stripe_account",
        "organisations",
        ["stripe_account_id"],
        unique=True,
        sqlite_where=LINKED,
        postgresql_where=LINKED,
    )


def downgrade() -> None:
    op.drop_index("ux_organisations_stripe_account", table_name="organisations")
