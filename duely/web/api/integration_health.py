"""`/api/v1/integration-health`: what needs a person in duely's integrations, the JSON twin of
the `/integrations` page. Collectors and admins read it and mark alerts seen.

Each section gives `count` (every row that needs attention) and `items` (the newest 50).
"""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict

from duely.models import Alert, Invoice
from duely.web.api.payments import PaymentOut
from duely.web.auth import requires_collector
from duely.web.deps import DbSession, get_owned
from duely.web.integration_health import Section, integration_health, mark_alert_seen


class ConnectionOut(BaseModel):
    """A ledger connection, never its tokens."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    provider: str
    tenant_name: str
    status: str
    last_error: str
    last_success_at: datetime | None


class WebhookOut(BaseModel):
    """A delivery received but not yet dispatched, never its payload."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    provider: str
    event_id: str
    event_type: str
    received_at: datetime
    attempts: int
    last_error: str


class AlertOut(BaseModel):
    id: int
    kind: str
    detail: str
    invoice_id: int | None
    invoice_number: str
    payment_id: int | None
    created_at: datetime
    seen_at: datetime | None

    @classmethod
    def of(cls, alert: Alert, invoice: Invoice | None) -> AlertOut:
        return cls(
            id=alert.id,
            kind=alert.kind,
            detail=alert.detail,
            invoice_id=alert.invoice_id,
            invoice_number=invoice.number if invoice else "",
            payment_id=alert.payment_id,
            created_at=alert.created_at,
            seen_at=alert.seen_at,
        )


class ConnectionsSection(BaseModel):
    count: int
    items: list[ConnectionOut]


class PaymentsSection(BaseModel):
    count: int
    items: list[PaymentOut]


class WebhooksSection(BaseModel):
    count: int
    items: list[WebhookOut]


class AlertsSection(BaseModel):
    count: int
    items: list[AlertOut]


class IntegrationHealthOut(BaseModel):
    all_clear: bool
    connections: ConnectionsSection
    """Ledger connections not connected, or whose last sync failed."""
    failing_payments: PaymentsSection
    """Payments whose ledger write failed at least once and is still pending."""
    unmatched_payments: PaymentsSection
    webhooks: WebhooksSection
    """Deliveries received but not yet dispatched to the workflows."""
    alerts: AlertsSection
    """Refunds, disputes and ledger writes nobody has marked seen."""


def _payments(section: Section) -> PaymentsSection:
    return PaymentsSection(count=section.count, items=[PaymentOut.of(r) for r in section.items])


class IntegrationHealthController(Controller):
    path = "/integration-health"
    tags = ["integration health"]
    guards = [requires_collector]

    @get("/")
    async def show(self, request: Request, db_session: DbSession) -> IntegrationHealthOut:
        health = await integration_health(db_session, request.user.organisation_id)
        return IntegrationHealthOut(
            all_clear=health.all_clear,
            connections=ConnectionsSection(
                count=health.connections.count,
                items=[ConnectionOut.model_validate(c) for c in health.connections.items],
            ),
            failing_payments=_payments(health.failing_payments),
            unmatched_payments=_payments(health.unmatched_payments),
            webhooks=WebhooksSection(
                count=health.webhooks.count,
                items=[WebhookOut.model_validate(w) for w in health.webhooks.items],
            ),
            alerts=AlertsSection(
                count=health.alerts.count,
                items=[
                    AlertOut.of(a, health.alert_invoices.get(a.invoice_id))
                    for a in health.alerts.items
                ],
            ),
        )

    @post("/alerts/{alert_id:int}/seen", status_code=200)
    async def mark_seen(
        self, request: Request, db_session: DbSession, alert_id: FromPath[int]
    ) -> AlertOut:
        """Mark an alert seen: it leaves the health view (marking again changes nothing)."""
        org_id = request.user.organisation_id
        alert = await get_owned(db_session, Alert, alert_id, org_id)
        await mark_alert_seen(db_session, alert)
        invoice = await db_session.get(Invoice, alert.invoice_id) if alert.invoice_id else None
        if invoice is not None and invoice.organisation_id != org_id:
            invoice = None
        return AlertOut.of(alert, invoice)
