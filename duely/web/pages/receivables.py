"""The invoices and customers pages a finance team works from; every role may read them.

Lists are plain GET forms that work without JavaScript; htmx requests for the same URL get only
the table back (and the canonical URL to push), so a filtered view can be bookmarked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template

from duely.core.money import format_money
from duely.models import Customer, Invoice, InvoiceStatus, Organisation
from duely.models.organisation import customer_is_chased
from duely.receivables.aging import BUCKET_NAMES
from duely.receivables.credit import CREDIT_KINDS, by_currency, credit_of, net_due
from duely.receivables.queries import (
    InvoiceFilters,
    count_invoices,
    customer_balances,
    customer_choices,
    customer_contacts,
    customer_names,
    customers_query,
    invoice_aging,
    invoice_currencies,
    invoice_timeline,
    invoices_query,
    organisation_today,
)
from duely.reminders.schedules import schedule_choices, unless_chosen
from duely.web.api.paging import PageRequest, fetch_page
from duely.web.chase import chase_card
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.pages.paging import PAGE_SIZE, fetch_shown_page, page_number, pager

CUSTOMER_CHOICES = 500
"""A filter menu longer than this is no use; beyond it, people search by name instead."""
BUCKET_LABELS = {
    "current": "Not yet due",
    "1-30": "1–30 days",
    "31-60": "31–60 days",
    "61-90": "61–90 days",
    "90+": "Over 90 days",
}
DEFAULT_STATUS = InvoiceStatus.OPEN.value
ANY_STATUS = "all"
STATUS_CHOICES = [
    (InvoiceStatus.OPEN.value, "Open"),
    (InvoiceStatus.PAID.value, "Paid"),
    (InvoiceStatus.VOIDED.value, "Voided"),
    (InvoiceStatus.DRAFT.value, "Draft"),
    (ANY_STATUS, "Any status"),
]


# --- formatting shared by every receivables template -----------------------------------------


def format_day(day: date | None) -> str:
    return f"{day.day} {day:%b %Y}" if day else "—"


def formatters(organisation: Organisation) -> dict[str, Any]:
    """Template helpers: money in minor units, dates, instants in the organisation's zone, and
    whether a customer is chased (its own switch, else the organisation's mode)."""
    zone = ZoneInfo(organisation.timezone)

    def moment(instant: datetime | None) -> str:
        if instant is None:
            return "—"
        local = instant.astimezone(zone)
        return f"{format_day(local.date())}, {local:%H:%M}"

    return {
        "money": format_money,
        "day": format_day,
        "moment": moment,
        "bucket_label": BUCKET_LABELS.get,
        "invoices_url": invoices_url,
        "chased": lambda customer: customer_is_chased(organisation, customer),
    }


def invoices_url(page: int = 1, **filters: Any) -> str:
    """The invoices list for these filters; `status` defaults to open, so it is left out."""
    params = {name: value for name, value in filters.items() if value not in (None, "")}
    if params.get("status") == DEFAULT_STATUS:
        del params["status"]
    if page > 1:
        params["page"] = page
    return f"/invoices?{urlencode(params)}" if params else "/invoices"


def customers_url(page: int = 1, q: str = "") -> str:
    params: dict[str, Any] = {"q": q} if q else {}
    if page > 1:
        params["page"] = page
    return f"/customers?{urlencode(params)}" if params else "/customers"


# --- requests ----------------------------------------------------------------------------------


def wants_fragment(request: HTMXRequest) -> bool:
    """htmx swapping part of the page; a history restore or a boosted link needs the whole page."""
    details = request.htmx
    return bool(details) and not details.boosted and not details.history_restore_request


def _whole_number(raw: str | None) -> int | None:
    """A positive id from a query string; anything else (or absurd) is None."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 12 else None


def _clean(raw: str | None, limit: int = 200) -> str:
    return (raw or "").strip()[:limit]


@dataclass(frozen=True)
class InvoiceListQuery:
    """The invoice list's query string as submitted, tolerated and made canonical."""

    status: str
    bucket: str
    customer_id: int | None
    currency: str
    q: str

    @classmethod
    def parse(
        cls,
        status: str | None,
        bucket: str | None,
        customer_id: str | None,
        currency: str | None,
        q: str | None,
    ) -> InvoiceListQuery:
        # A hand-edited or stale URL falls back to "any" rather than an error page; the form
        # then shows exactly the filters that were applied.
        known_statuses = {value for value, _ in STATUS_CHOICES}
        currency_code = _clean(currency).upper()
        return cls(
            status=status if status in known_statuses else DEFAULT_STATUS,
            bucket=bucket if bucket in BUCKET_NAMES else "",
            customer_id=_whole_number(customer_id),
            currency=currency_code if len(currency_code) == 3 and currency_code.isalpha() else "",
            q=_clean(q),
        )

    @property
    def filters(self) -> InvoiceFilters:
        return InvoiceFilters(
            status=None if self.status == ANY_STATUS else self.status,
            bucket=self.bucket or None,
            customer_id=self.customer_id,
            q=self.q or None,
            currency=self.currency or None,
        )

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the default "open invoices" view is applied."""
        return self != InvoiceListQuery(DEFAULT_STATUS, "", None, "", "")

    def url(self, page: int = 1) -> str:
        return invoices_url(
            page,
            status=self.status,
            bucket=self.bucket,
            customer_id=self.customer_id,
            currency=self.currency,
            q=self.q,
        )


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    customer_name: str
    bucket: str
    days_overdue: int

    @property
    def is_open(self) -> bool:
        return self.invoice.status == InvoiceStatus.OPEN

    @property
    def bucket_class(self) -> str:
        return f"aging-{BUCKET_NAMES.index(self.bucket)}"


async def invoice_rows(
    db_session: DbSession, org_id: int, invoices: list[Invoice], today: date
) -> list[InvoiceRow]:
    names = await customer_names(db_session, org_id, (i.customer_id for i in invoices))
    rows = []
    for invoice in invoices:
        aging = invoice_aging(invoice, today)
        name = names.get(invoice.customer_id, "")
        rows.append(InvoiceRow(invoice, name, aging.bucket, aging.days_overdue))
    return rows


def _render(
    request: HTMXRequest, page: str, fragment: str, context: dict[str, Any], push_url: str
) -> Template:
    # The same URL answers a page or a fragment, so caches must keep the two apart.
    headers = {"Vary": "HX-Request"}
    if wants_fragment(request):
        return HTMXTemplate(
            template_name=fragment, context=context, push_url=push_url, headers=headers
        )
    return Template(template_name=page, context=context, headers=headers)


async def invoice_page_context(
    request: HTMXRequest, db_session: DbSession, organisation: Organisation, invoice: Invoice
) -> dict[str, Any]:
    """Everything the invoice page shows, its live Chase card included (the chase controls
    render the same page when a plain form post needs an answer)."""
    customer = await get_owned(db_session, Customer, invoice.customer_id, organisation.id)
    today = organisation_today(organisation)
    (row,) = await invoice_rows(db_session, organisation.id, [invoice], today)
    return {
        **formatters(organisation),
        "row": row,
        "invoice": invoice,
        "customer": customer,
        "chase": await chase_card(
            request.app.state, organisation, invoice, customer, request.user, today
        ),
        "timeline": await invoice_timeline(db_session, invoice, newest_first=True),
    }


# --- controllers ---------------------------------------------------------------------------------


class InvoicePagesController(Controller):
    path = "/invoices"
    include_in_schema = False

    @get("/", name="invoices")
    async def list_invoices(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        status: FromQuery[str | None] = None,
        bucket: FromQuery[str | None] = None,
        customer_id: FromQuery[str | None] = None,
        currency: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        today = organisation_today(organisation)
        query = InvoiceListQuery.parse(status, bucket, customer_id, currency, q)
        statement = invoices_query(organisation.id, query.filters, today)
        invoices, total, shown = await fetch_shown_page(db_session, statement, page_number(page))
        customers = await customer_choices(db_session, organisation.id, CUSTOMER_CHOICES)
        if query.customer_id and query.customer_id not in dict(customers):
            chosen = await customer_names(db_session, organisation.id, [query.customer_id])
            customers = [*chosen.items(), *customers]
        context = {
            **formatters(organisation),
            "query": query,
            "rows": await invoice_rows(db_session, organisation.id, invoices, today),
            "pager": pager(shown, total, query.url, target="invoice-table"),
            "show_customer": True,
            "has_invoices": total > 0 or await count_invoices(db_session, organisation.id) > 0,
            "clear_url": invoices_url() if query.narrowed else None,
            "status_choices": STATUS_CHOICES,
            "buckets": BUCKET_NAMES,
            "customers": customers,
            "customers_capped": len(customers) >= CUSTOMER_CHOICES,
            "currencies": await invoice_currencies(db_session, organisation.id),
        }
        return _render(
            request,
            "receivables/invoices.html",
            "partials/receivables_invoice_table.html",
            context,
            push_url=query.url(shown),
        )

    @get("/{invoice_id:int}", name="invoice")
    async def show_invoice(
        self, request: HTMXRequest, db_session: DbSession, invoice_id: FromPath[int]
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        context = await invoice_page_context(request, db_session, organisation, invoice)
        return Template("receivables/invoice.html", context=context)


class CustomerPagesController(Controller):
    path = "/customers"
    include_in_schema = False

    @get("/", name="customers")
    async def list_customers(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        q: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        search = _clean(q)
        statement = customers_query(organisation.id, search or None)
        customers, total, shown = await fetch_shown_page(db_session, statement, page_number(page))
        has_customers = total > 0 or bool(search and await _any_customer(db_session, organisation))
        context = {
            **formatters(organisation),
            "q": search,
            "customers": customers,
            "balances": await customer_balances(
                db_session,
                organisation.id,
                (c.id for c in customers),
                organisation_today(organisation),
            ),
            "pager": pager(
                shown, total, lambda n: customers_url(n, search), target="customer-table"
            ),
            "has_customers": has_customers,
            "clear_url": customers_url() if search else None,
        }
        return _render(
            request,
            "receivables/customers.html",
            "partials/receivables_customer_table.html",
            context,
            push_url=customers_url(shown, search),
        )

    @get("/{customer_id:int}", name="customer")
    async def show_customer(
        self, request: HTMXRequest, db_session: DbSession, customer_id: FromPath[int]
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        customer = await get_owned(db_session, Customer, customer_id, organisation.id)
        today = organisation_today(organisation)
        query = InvoiceListQuery(DEFAULT_STATUS, "", customer.id, "", "")
        statement = invoices_query(organisation.id, query.filters, today)
        invoices, total = await fetch_page(db_session, statement, PageRequest(1, PAGE_SIZE))
        balances = await customer_balances(db_session, organisation.id, [customer.id], today)
        credits = await credit_of(db_session, organisation.id, customer.id)
        outstanding = balances[customer.id].outstanding.items()
        return Template(
            "receivables/customer.html",
            context={
                **formatters(organisation),
                "organisation": organisation,
                "customer": customer,
                "balance": balances[customer.id],
                "credits": credits,
                "credit_kinds": CREDIT_KINDS,
                "net": net_due(outstanding, by_currency(credits)),
                "contacts": await customer_contacts(db_session, customer),
                "schedule_choices": await schedule_choices(db_session, organisation.id),
                "fallback": await unless_chosen(db_session, customer),
                "rows": await invoice_rows(db_session, organisation.id, invoices, today),
                # More open invoices than fit continue on the invoices list, filtered to them.
                "pager": pager(1, total, query.url, target=None),
                "show_customer": False,
                "has_invoices": True,
                "clear_url": None,
                "empty_message": "No open invoices: nothing to chase for this customer.",
            },
        )


async def _any_customer(db_session: DbSession, organisation: Organisation) -> bool:
    statement = customers_query(organisation.id).limit(1)
    return (await db_session.exec(statement)).first() is not None
