"""`/api/v1/payments`: card and ledger payments as duely placed them on invoices, read-only.

Unmatched payments (`?status=unmatched`) are the ones a person must resolve: duely could not
place them on an open invoice and wrote nothing to the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter
from pydantic import BaseModel

from duely.web.api.paging import Page, PageRequest, fetch_page
from duely.web.deps import DbSession
from duely.web.integration_health import (
    PAYMENT_STATUSES,
    PaymentFilters,
    PaymentRow,
    UnknownPaymentStatus,
    payment_rows,
    payment_status,
    payments_query,
)


class PaymentOut(BaseModel):
    id: int
    status: str
    reason: str
    """Why the payment is unmatched, in words; empty otherwise."""
    amount: int
    """Minor units of `currency`, like every amount in the API."""
    currency: str
    source: str
    external_id: str
    """The payment's id at its source: the Stripe PaymentIntent for card payments."""
    invoice_id: int | None
    """The invoice the payment was placed on; null when unmatched."""
    invoice_number: str
    """The number of that invoice, or of the invoice the payment named (`invoice_ref`)."""
    invoice_ref: str
    """duely's id of the invoice the payment named, kept even when it fits no invoice."""
    customer_id: int | None
    customer_name: str
    ledger_payment_id: str
    paid_on: date | None
    attempts: int
    """Ledger writes tried so far."""
    last_error: str
    created_at: datetime

    @classmethod
    def of(cls, row: PaymentRow) -> PaymentOut:
        payment = row.payment
        return cls(
            id=payment.id,
            status=payment.status,
            reason=payment.reason,
            amount=payment.amount,
            currency=payment.currency,
            source=payment.source,
            external_id=payment.external_id,
            invoice_id=payment.invoice_id,
            invoice_number=row.invoice.number if row.invoice else "",
            invoice_ref=payment.invoice_ref,
            customer_id=row.customer_id,
            customer_name=row.customer_name,
            ledger_payment_id=payment.ledger_payment_id,
            paid_on=payment.paid_on,
            attempts=payment.attempts,
            last_error=payment.last_error,
            created_at=payment.created_at,
        )


# A plain string, checked by hand: a wrong status is answered with the statuses there are.
StatusFilter = Annotated[
    str | None,
    QueryParameter(description=f"one of {', '.join(PAYMENT_STATUSES)}; left out: any"),
]


class PaymentController(Controller):
    path = "/payments"
    tags = ["payments"]

    @get("/")
    async def list_payments(
        self,
        request: Request,
        db_session: DbSession,
        paging: NamedDependency[PageRequest],
        status: StatusFilter = None,
        customer_id: FromQuery[int | None] = None,
        invoice_id: FromQuery[int | None] = None,
    ) -> Page[PaymentOut]:
        """The organisation's payments, newest first. `invoice_id` also finds unmatched
        payments that named the invoice."""
        org_id = request.user.organisation_id
        try:
            filters = PaymentFilters(payment_status(status), customer_id, invoice_id)
        except UnknownPaymentStatus as error:
            raise ValidationException(str(error), extra={"status": str(error)}) from error
        rows, total = await fetch_page(db_session, payments_query(org_id, filters), paging)
        described = await payment_rows(db_session, org_id, rows)
        return Page([PaymentOut.of(r) for r in described], total, paging.page, paging.page_size)
