"""How duely chases: schedules of steps, message templates, the outbox and the timeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field

from duely.models.base import OrgScoped, optional_timestamp, timestamp


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    CALL_TASK = "call_task"


class MessageKind(StrEnum):
    REMINDER = "reminder"
    STATEMENT = "statement"
    THANK_YOU = "thank_you"


class MessageStatus(StrEnum):
    QUEUED = "queued"
    """Written, not yet handed to the mail server: safe to (re)send."""
    HANDING_OVER = "handing_over"
    """The mail server has the message text: a crash now leaves its fate unknown."""
    SENT = "sent"
    HELD = "held"
    """Kept in the in-app outbox only: no mail server or SMS provider is configured."""
    FAILED = "failed"
    """Delivery refused or impossible (no address); the error says why."""
    UNCERTAIN = "uncertain"
    """A crash during the hand-over: it may have gone out. Never resent automatically."""
    OPEN = "open"
    """A call task waiting for a person."""
    DONE = "done"


class Schedule(OrgScoped, table=True):
    __tablename__ = "schedules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    is_default: bool = Field(default=False)
    contact_group: str = Field(default="", max_length=200)
    """Customers in this contact group of the ledger follow this schedule, unless they were
    given one by name ("" for none)."""
    created_at: datetime = timestamp()


class Template(OrgScoped, table=True):
    __tablename__ = "templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    tone: str = Field(default="friendly", max_length=32)
    subject: str = Field(default="", max_length=500)
    body: str = Field(default="")
    created_at: datetime = timestamp()


class ScheduleStep(OrgScoped, table=True):
    __tablename__ = "schedule_steps"

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="schedules.id", index=True, ondelete="CASCADE")
    position: int = Field(default=0)
    offset_days: int = Field(default=0)
    """Days from the due date; negative sends before the invoice is due."""
    channel: str = Field(default=Channel.EMAIL, max_length=16)
    template_id: int | None = Field(default=None, foreign_key="templates.id")
    recipient_kind: str = Field(default="normal", max_length=16)
    """"normal": the customer's normal contacts; "escalated": those and the escalation
    contacts too (a final notice goes to both)."""
    repeat_every_days: int | None = None
    repeat_max_times: int | None = None


class Message(OrgScoped, table=True):
    """The outbox: every email, SMS or call task duely produced, as rendered."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    channel: str = Field(default=Channel.EMAIL, max_length=16)
    kind: str = Field(default=MessageKind.REMINDER, max_length=16)
    unique_key: str = Field(max_length=200, unique=True)
    """Business key of the send (kind + channel + customer + local day): one a day at most,
    and a crash can never send it twice."""
    batch_ref: str = Field(default="", max_length=300)
    """The activity that wrote it; its retries find and finish this message."""
    attempts: int = Field(default=0)
    claimed_until: datetime | None = optional_timestamp()
    """While set and in the future, one delivery attempt holds the message: no other may send
    it."""
    recipients: str = Field(default="")
    subject: str = Field(default="", max_length=500)
    body: str = Field(default="")
    status: str = Field(default=MessageStatus.QUEUED, max_length=16, index=True)
    error: str = Field(default="")
    created_at: datetime = timestamp()
    sent_at: datetime | None = optional_timestamp()


class Event(OrgScoped, table=True):
    """One line on an invoice's timeline."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=50)
    detail: str = Field(default="")
    message_id: int | None = Field(default=None, foreign_key="messages.id")
    occurred_at: datetime = timestamp(index=True)
    ledger_noted_at: datetime | None = optional_timestamp(index=True)
    """When the ledger-notes sweep dealt with this line: written as a note on the invoice's
    history in the ledger, or passed over (not worth a note, or no ledger holds the invoice).
    Null: not yet (duely.ledgers.history_notes)."""
