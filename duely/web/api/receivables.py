"""`/api/v1/customers` and `/api/v1/invoices`: what the organisation is owed, read-only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, or_, select

from duely.aging import bucket_of, days_overdue, due_date_range
from duely.models import Contact, Customer, Event, Invoice, InvoiceStatus, Organisation
from duely.web.api.paging import Page, PageRequest, fetch_page
from duely.web.deps import DbSession, get_organisation, get_owned

Bucket = Literal["current", "1-30", "31-60", "61-90", "90+"]


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
    chasing_enabled: bool
    opted_out_at: datetime | None
    timezone: str


class CustomerDetail(CustomerOut):
    contacts: list[ContactOut]


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


def _today(organisation: Organisation) -> date:
    return datetime.now(ZoneInfo(organisation.timezone)).date()


def _invoice_out(invoice: Invoice, today: date) -> InvoiceOut:
    out = InvoiceOut.model_validate(invoice)
    out.bucket = bucket_of(invoice.due_date, today)
    out.days_overdue = days_overdue(invoice.due_date, today)
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
        statement = (
            select(Customer)
            .where(Customer.organisation_id == request.user.organisation_id)
            .order_by(Customer.name, Customer.id)
        )
        if q:
            statement = statement.where(col(Customer.name).icontains(q))
        rows, total = await fetch_page(db_session, statement, paging)
        return Page(
            [CustomerOut.model_validate(r) for r in rows], total, paging.page, paging.page_size
        )

    @get("/{customer_id:int}")
    async def show_customer(
        self, request: Request, db_session: DbSession, customer_id: FromPath[int]
    ) -> CustomerDetail:
        customer = await get_owned(db_session, Customer, customer_id, request.user.organisation_id)
        contacts = (
            await db_session.exec(select(Contact).where(Contact.customer_id == customer.id))
        ).all()
        return CustomerDetail(
            **CustomerOut.model_validate(customer).model_dump(),
            contacts=[ContactOut.model_validate(c) for c in contacts],
        )


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
        today = _today(organisation)
        statement = (
            select(Invoice)
            .where(Invoice.organisation_id == organisation.id)
            .order_by(Invoice.due_date, Invoice.id)
        )
        if status:
            statement = statement.where(Invoice.status == status)
        if customer_id is not None:
            statement = statement.where(Invoice.customer_id == customer_id)
        if bucket:
            earliest, latest = due_date_range(bucket, today)
            if earliest:
                statement = statement.where(Invoice.due_date >= earliest)
            if latest:
                statement = statement.where(Invoice.due_date <= latest)
        if q:
            customers = select(Customer.id).where(
                Customer.organisation_id == organisation.id, col(Customer.name).icontains(q)
            )
            statement = statement.where(
                or_(col(Invoice.number).icontains(q), col(Invoice.customer_id).in_(customers))
            )
        rows, total = await fetch_page(db_session, statement, paging)
        return Page([_invoice_out(r, today) for r in rows], total, paging.page, paging.page_size)

    @get("/{invoice_id:int}")
    async def show_invoice(
        self, request: Request, db_session: DbSession, invoice_id: FromPath[int]
    ) -> InvoiceDetail:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        events = (
            await db_session.exec(
                select(Event).where(Event.invoice_id == invoice.id).order_by(Event.occurred_at)
            )
        ).all()
        out = _invoice_out(invoice, _today(organisation))
        return InvoiceDetail(
            **out.model_dump(), timeline=[EventOut.model_validate(e) for e in events]
        )
