"""Sessions that end and API tokens that can be revoked (security issue 12, finding 4): browser
sessions move from a signed cookie into `web_sessions` (the cookie keeps only a random id), and
API tokens get a name and a revocation time.

Tokens minted before this have no name: they are called "token made before names", and none of
them lives more than 90 days past this migration.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

import duely.models.base

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_OF_OLD_TOKENS = "token made before names"
OLD_TOKEN_LIFETIME = timedelta(days=90)


def _instant() -> duely.models.base.UTCDateTime:
    return duely.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("data", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("last_seen_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("revoked_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_id_digest"), ["id_digest"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_web_sessions_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    # Nullable first, so existing rows can be named before the column is made NOT NULL.
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(sa.Column("revoked_at", _instant(), nullable=True))
    latest_expiry = datetime.now(UTC) + OLD_TOKEN_LIFETIME
    op.get_bind().execute(
        sa.text("UPDATE api_tokens SET name = :name").bindparams(name=NAME_OF_OLD_TOKENS)
    )
    op.get_bind().execute(
        sa.text("UPDATE api_tokens SET expires_at = :latest WHERE expires_at > :latest").bindparams(
            sa.bindparam("latest", latest_expiry, type_=_instant())
        )
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("name")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_id_digest"))
    op.drop_table("web_sessions")
