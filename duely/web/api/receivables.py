"""`/api/v1/customers` and `/api/v1/invoices`: what the organisation is owed, read-only."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, ConfigDict

from duely.chase.state import ChaseView
from duely.core.links import LIFETIMES_DAYS, PORTAL, LinkTarget, link
from duely.models import Customer, Invoice, InvoiceStatus
from duely.receivables.queries import (
    Bucket,
    InvoiceFilters,
    customer_contacts,
    customers_query,
    invoice_aging,
    invoice_timeline,
    invoices_query,
    organisation_today,
)
from duely.web.api.paging import Page, PageRequest, fetch_page
from duely.web.auth import requires_collector
from duely.web.chase import live_view, needs_live_view
from duely.web.deps import DbSession, get_organisation, get_owned


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    kind: str


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    external_id: str
    name: str
    chasing_enabled: bool | None
    """null: follows the organisation's chase mode."""
    email_opted_out_at: datetime | None
    """Since when the customer refuses reminders by email (their unsubscribe link); null: they
    do not."""
    sms_opted_out_at: datetime | None
    """Since when the customer refuses texts (a reply STOP, or their unsubscribe link); null:
    they do not. Neither opt-out stops call tasks."""
    timezone: str


class CustomerDetail(CustomerOut):
    contacts: list[ContactOut]


class PortalLink(BaseModel):
    url: str
    """The customer's payment portal; anyone holding it can see and pay their invoices."""
    expires_at: datetime


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    external_id: str
    number: str
    customer_id: int
    issue_date: date
    due_date: date
    currency: str
    total: int
    amount_due: int
    status: str
    expected_payment_date: date | None
    disputed: bool
    chase_state: str
    bucket: str = ""
    days_overdue: int = 0


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    detail: str
    occurred_at: datetime


class InvoiceDetail(InvoiceOut):
    timeline: list[EventOut]
    chase: ChaseView | None = None
    """The chase's live state; null when no chase runs or the chase engine is out of reach."""


def _invoice_out(invoice: Invoice, today: date) -> InvoiceOut:
    aging = invoice_aging(invoice, today)
    out = InvoiceOut.model_validate(invoice)
    out.bucket = aging.bucket
    out.days_overdue = aging.days_overdue
    return out


class CustomerController(Controller):
    path = "/customers"
    tags = ["receivables"]

    @get("/")
    async def list_customers(
        self,
        request: Request,
        db_session: DbSession,
        paging: NamedDependency[PageRequest],
        q: FromQuery[str | None] = None,
    ) -> Page[CustomerOut]:
        statement = customers_query(request.user.organisation_id, q)
        rows, total = await fetch_page(db_session, statement, paging)
        return Page(
            [CustomerOut.model_validate(r) for r in rows], total, paging.page, paging.page_size
        )

    @get("/{customer_id:int}")
    async def show_customer(
        self, request: Request, db_session: DbSession, customer_id: FromPath[int]
    ) -> CustomerDetail:
        customer = await get_owned(db_session, Customer, customer_id, request.user.organisation_id)
        contacts = await customer_contacts(db_session, customer)
        return CustomerDetail(
            **CustomerOut.model_validate(customer).model_dump(),
            contacts=[ContactOut.model_validate(c) for c in contacts],
        )

    @get("/{customer_id:int}/portal-link", guards=[requires_collector])
    async def portal_link(
        self, request: Request, db_session: DbSession, customer_id: FromPath[int]
    ) -> PortalLink:
        """A fresh signed link to the customer's payment portal, to send them by hand.
        Collectors and admins only: whoever holds it acts as the customer (promises to pay,
        disputes), which a viewer may not."""
        customer = await get_owned(db_session, Customer, customer_id, request.user.organisation_id)
        settings = request.app.state.settings
        # Taken before the link is signed, so the expiry told is never later than the real one.
        issued = time.time()
        url = link(
            settings.public_url,
            settings.resolved_secret_key,
            PORTAL,
            LinkTarget(customer.organisation_id, customer.id),
        )
        expires = int(issued + LIFETIMES_DAYS[PORTAL] * 86400)
        return PortalLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC))


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["receivables"]

    @get("/")
    async def list_invoices(
        self,
        request: Request,
        db_session: DbSession,
        paging: NamedDependency[PageRequest],
        status: FromQuery[InvoiceStatus | None] = None,
        bucket: FromQuery[Bucket | None] = None,
        customer_id: FromQuery[int | None] = None,
        q: FromQuery[str | None] = None,
    ) -> Page[InvoiceOut]:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        today = organisation_today(organisation)
        filters = InvoiceFilters(status=status, bucket=bucket, customer_id=customer_id, q=q)
        statement = invoices_query(organisation.id, filters, today)
        rows, total = await fetch_page(db_session, statement, paging)
        return Page([_invoice_out(r, today) for r in rows], total, paging.page, paging.page_size)

    @get("/{invoice_id:int}")
    async def show_invoice(
        self, request: Request, db_session: DbSession, invoice_id: FromPath[int]
    ) -> InvoiceDetail:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        events = await invoice_timeline(db_session, invoice)
        out = _invoice_out(invoice, organisation_today(organisation))
        chase = None
        if needs_live_view(invoice):
            chase, _ = await live_view(request.app.state, invoice)
        return InvoiceDetail(
            **out.model_dump(), timeline=[EventOut.model_validate(e) for e in events], chase=chase
        )
