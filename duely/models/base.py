"""Shared column types and the organisation scope every table carries."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def saved_id(row: SQLModel) -> int:
    """The id of a row that was saved (SQLModel types every id `int | None`, for a row not yet
    inserted); a ValueError names the row otherwise."""
    row_id = getattr(row, "id", None)
    if not isinstance(row_id, int):
        raise ValueError(f"{type(row).__name__} has not been saved: it has no id yet")
    return row_id


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite forgets the zone, PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(**kwargs) -> datetime:
    """A `created_at`-style column defaulting to now (UTC)."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


def optional_timestamp(**kwargs) -> datetime | None:
    return Field(default=None, sa_type=UTCDateTime, **kwargs)


def money(**kwargs) -> int:
    """An amount in integer minor units (cents); 64-bit so large invoices never overflow."""
    return Field(default=0, sa_type=BigInteger, **kwargs)


class OrgScoped(SQLModel):
    """Every domain row belongs to exactly one organisation; queries filter on this column."""

    organisation_id: int = Field(foreign_key="organisations.id", index=True, ondelete="CASCADE")
