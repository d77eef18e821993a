"""The payments page: card and ledger payments as duely placed them on invoices, one tab per
status. It opens on the unmatched ones, since those are the payments a person must resolve
(refund, or apply by hand in the ledger). Every role may read it.

Tabs are plain links; the pager swaps just the table through htmx, like the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template

from duely.models import PaymentStatus
from duely.web.deps import DbSession, get_organisation
from duely.web.integration_health import (
    PAYMENT_STATUSES,
    UNMATCHED_MEANS,
    PaymentFilters,
    payment_counts,
    payment_rows,
    payments_query,
)
from duely.web.pages.paging import fetch_shown_page, page_number, pager
from duely.web.pages.receivables import formatters, wants_fragment

DEFAULT_STATUS = PaymentStatus.UNMATCHED.value
ANY_STATUS = "all"
STATUS_LABELS = {
    "unmatched": "Unmatched",
    "pending": "Waiting for the ledger",
    "recorded": "Recorded in the ledger",
    "refunded": "Refunded",
}
SOURCE_LABELS = {"stripe": "Card (Stripe)", "ledger": "Ledger"}
TABS = [*STATUS_LABELS.items(), (ANY_STATUS, "All")]


@dataclass(frozen=True)
class PaymentListQuery:
    """The query string as submitted; an unknown status falls back to the unmatched tab."""

    status: str

    @classmethod
    def parse(cls, status: str | None) -> PaymentListQuery:
        known = [*PAYMENT_STATUSES, ANY_STATUS]
        return cls(status if status in known else DEFAULT_STATUS)

    @property
    def filters(self) -> PaymentFilters:
        return PaymentFilters(status=None if self.status == ANY_STATUS else self.status)

    def url(self, page: int = 1, status: str | None = None) -> str:
        status = status or self.status
        params: dict[str, Any] = {} if status == DEFAULT_STATUS else {"status": status}
        if page > 1:
            params["page"] = page
        return f"/payments?{urlencode(params)}" if params else "/payments"


class PaymentsController(Controller):
    path = "/payments"
    include_in_schema = False

    @get("/", name="payments")
    async def list_payments(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        status: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        query = PaymentListQuery.parse(status)
        statement = payments_query(organisation.id, query.filters)
        payments, total, shown = await fetch_shown_page(db_session, statement, page_number(page))
        counts = await payment_counts(db_session, organisation.id)
        counts[ANY_STATUS] = sum(counts.values())
        context = {
            **formatters(organisation),
            "query": query,
            "tabs": [
                (value, label, counts[value], query.url(status=value)) for value, label in TABS
            ],
            "status_labels": STATUS_LABELS,
            "source_labels": SOURCE_LABELS,
            "unmatched_means": UNMATCHED_MEANS,
            "rows": await payment_rows(db_session, organisation.id, payments),
            "pager": pager(shown, total, query.url, target="payments-table"),
        }
        headers = {"Vary": "HX-Request"}
        if wants_fragment(request):
            return HTMXTemplate(
                template_name="payments/_table.html",
                context=context,
                push_url=query.url(shown),
                headers=headers,
            )
        return Template("payments/index.html", context=context, headers=headers)
