"""Webhook deliveries received, each stored once by its provider's event id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from duely.models.base import optional_timestamp, timestamp


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    """Unknown until the payload is matched to an organisation."""
    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=200)
    event_type: str = Field(default="", max_length=100)
    payload: str = Field(default="")
    received_at: datetime = timestamp()
    processed_at: datetime | None = optional_timestamp()
