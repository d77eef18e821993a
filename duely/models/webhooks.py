"""Webhook deliveries received, each stored once by its provider's event id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from duely.models.base import OrgScoped, optional_timestamp, timestamp


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
    """Set once its instructions reached the workflows; until then it is dispatched again."""
    attempts: int = Field(default=0)
    last_error: str = Field(default="")


class Alert(OrgScoped, table=True):
    """Something a person should look at: a refund, a dispute, a ledger write that keeps
    failing. Shown in the integration-health view until someone marks it seen."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("organisation_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    """What the alert is about (e.g. `refund:re_123`); the same thing alerts once."""
    kind: str = Field(max_length=32)
    detail: str = Field(default="")
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    payment_id: int | None = Field(default=None, foreign_key="payments.id")
    created_at: datetime = timestamp()
    seen_at: datetime | None = optional_timestamp()
