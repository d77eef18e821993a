"""duely's domain as SQLModel tables (DESIGN section 2). Import from here."""

from duely.models.base import UTCDateTime, saved_id, utcnow
from duely.models.chasing import (
    Channel,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Schedule,
    ScheduleStep,
    Template,
)
from duely.models.ledger import (
    Connection,
    ConnectionStatus,
    Contact,
    ContactKind,
    Credit,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentSource,
    PaymentStatus,
    Provider,
    SyncRun,
    SyncStatus,
)
from duely.models.organisation import ApiToken, ChaseMode, Organisation, Role, User
from duely.models.sessions import WebSession
from duely.models.webhooks import Alert, WebhookEvent

__all__ = [
    "Alert",
    "ApiToken",
    "Channel",
    "ChaseMode",
    "Connection",
    "ConnectionStatus",
    "Contact",
    "ContactKind",
    "Credit",
    "Customer",
    "Event",
    "Invoice",
    "InvoiceStatus",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Organisation",
    "Payment",
    "PaymentSource",
    "PaymentStatus",
    "Provider",
    "Role",
    "Schedule",
    "SyncRun",
    "SyncStatus",
    "ScheduleStep",
    "Template",
    "UTCDateTime",
    "User",
    "WebSession",
    "WebhookEvent",
    "saved_id",
    "utcnow",
]
