"""`/api/v1/integration-health`: what needs a person in duely's integrations, the JSON twin of
the `/integrations` page. Collectors and admins read it and mark alerts seen.

Each section gives `count` (every row that needs attention) and `items` (the newest 50).
Configuration problems (a person must change a setting; each item says what to do) are kept
apart from outages (duely retries by itself).
"""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict

from duely.models import Alert, Connection, Invoice
from duely.web.api.payments import PaymentOut
from duely.web.auth import requires_collector
from duely.web.deps import DbSession, get_owned
from duely.web.integration_health import (
    Section,
    connection_trouble,
    integration_health,
    mark_alert_seen,
)


class ConnectionOut(BaseModel):
    """A ledger connection, never its tokens."""

    id: int
    provider: str
    tenant_name: str
    status: str
    last_error: str
    last_success_at: datetime | None
    problem: str
    """`configuration` (a person must act, e.g. reconnect) or `outage` (duely retries)."""
    what_to_do: str

    @classmethod
    def of(cls, connection: Connection) -> ConnectionOut:
        trouble = connection_trouble(connection)
        return cls(
            id=connection.id,
            provider=connection.provider,
            tenant_name=connection.tenant_name,
            status=connection.status,
            last_error=connection.last_error,
            last_success_at=connection.last_success_at,
            problem=trouble.kind,
            what_to_do=trouble.what_to_do,
        )


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


class ConfigurationProblemOut(PaymentOut):
    what_to_do: str
    """What a person must change for the ledger to take the payment; duely tries again by
    itself every hour (at once after card payment settings are saved or the ledger is
    reconnected), so once it is done the payment goes in without anything more."""


class ConfigurationProblemsSection(BaseModel):
    count: int
    items: list[ConfigurationProblemOut]


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
    configuration_problems: ConfigurationProblemsSection
    """Payments a configuration problem keeps out of the ledger, each with what to do."""
    failing_payments: PaymentsSection
    """Payments an outage keeps out of the ledger for now (their last write failed for a
    reason that passes by itself); duely retries them."""
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
    # Guards sit on each handler, not on the controller: Litestar gives a controller's guards
    # to the OPTIONS handler it generates too, and OPTIONS is never authenticated, so a guard
    # there found no user and answered 500.

    @get("/", guards=[requires_collector])
    async def show(self, request: Request, db_session: DbSession) -> IntegrationHealthOut:
        health = await integration_health(db_session, request.user.organisation_id)
        return IntegrationHealthOut(
            all_clear=health.all_clear,
            connections=ConnectionsSection(
                count=health.connections.count,
                items=[ConnectionOut.of(c) for c in health.connections.items],
            ),
            configuration_problems=ConfigurationProblemsSection(
                count=health.configuration_problems.count,
                items=[
                    ConfigurationProblemOut(
                        **PaymentOut.of(row).model_dump(), what_to_do=row.payment.reason
                    )
                    for row in health.configuration_problems.items
                ],
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

    @post("/alerts/{alert_id:int}/seen", guards=[requires_collector], status_code=200)
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
