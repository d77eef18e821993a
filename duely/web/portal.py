"""The customer payment portal's queries and actions; its pages are in
`duely/web/pages/portal.py`.

A portal visit is scoped by its signed link to one customer of one organisation: every query
here starts from that customer, and invoice ids from a form are only ever looked up among that
customer's invoices. A customer's word ("I have paid", "I will pay on ...", "I dispute this")
goes to the invoice's chase workflow as a signal where one runs; what cannot reach a chase
(Temporal down, or no chase running) is kept on the invoice's timeline for a person, so the
customer is never told "try again later" for something a person can act on.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from litestar.datastructures import State
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.chase import control as chase_control
from duely.chase.control import Action, NotChasing
from duely.core.links import PORTAL, BadLink, LinkedCustomer, linked_customer
from duely.models import Event, Invoice, InvoiceStatus
from duely.payments.card_payments import RecentAttempts
from duely.web.chase import SIGNAL_SECONDS, ChaseEngineDown, chase_engine

log = logging.getLogger(__name__)

BY = "customer via portal"
"""Who the chase workflows are told an instruction came from."""
MAX_TEXT = 1000
"""The longest note or dispute reason a customer may send."""
MAX_SELECTED = 500
"""More invoice ids than this in one form is not a person ticking boxes."""
PROMISE_DAYS_AHEAD = 90

SAYS_PAID = "customer_says_paid"
PROMISED_UNTOLD = "customer_promised"
DISPUTED_UNTOLD = "customer_disputed"
"""Event kinds written when a customer's promise or dispute could not reach a chase."""


class InvalidLink(Exception):
    """The link is not one of ours, expired, or points to no customer any more."""


class NotYours(Exception):
    """An invoice id that is not one of the link's customer's invoices (a plain 404)."""


class BadPortalInput(ValueError):
    """Something the customer must correct; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Visit(LinkedCustomer):
    """Whose portal this is."""

    @property
    def contact_email(self) -> str:
        return self.organisation.sender_email


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    days_overdue: int
    """Days past the due date in the organisation's today; negative: days until it is due."""

    @property
    def has_pdf(self) -> bool:
        return self.invoice.connection_id is not None


@dataclass(frozen=True)
class Told:
    """What became of a customer's promise or dispute."""

    signalled: list[Invoice]
    recorded: list[Invoice]
    """Kept on the timeline instead: no chase runs, or the chase engine was out of reach."""


async def visit_of(session: AsyncSession, secret_key: str, token: str) -> Visit:
    try:
        organisation, customer = await linked_customer(
            session, secret_key, PORTAL, token, "this link no longer points to any invoices"
        )
    except BadLink as bad:
        raise InvalidLink(str(bad)) from None
    return Visit(organisation, customer)


def is_outstanding(invoice: Invoice) -> bool:
    return invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0


async def outstanding_invoices(session: AsyncSession, visit: Visit) -> list[Invoice]:
    """The customer's open invoices with something due, the oldest due first."""
    statement = (
        select(Invoice)
        .where(
            Invoice.organisation_id == visit.organisation.id,
            Invoice.customer_id == visit.customer.id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.amount_due > 0,
        )
        .order_by(col(Invoice.due_date), col(Invoice.id))
    )
    return list((await session.exec(statement)).all())


def invoice_rows(invoices: Iterable[Invoice], today: date) -> list[InvoiceRow]:
    return [InvoiceRow(invoice, (today - invoice.due_date).days) for invoice in invoices]


def totals_by_currency(invoices: Iterable[Invoice]) -> list[tuple[str, int]]:
    """What is due in each currency (never added across currencies), by currency code."""
    totals: defaultdict[str, int] = defaultdict(int)
    for invoice in invoices:
        totals[invoice.currency] += invoice.amount_due
    return sorted(totals.items())


async def customer_invoice(session: AsyncSession, visit: Visit, invoice_id: int) -> Invoice:
    """One of the customer's invoices (any status but draft); raises NotYours."""
    invoice = await session.get(Invoice, invoice_id)
    if (
        invoice is None
        or invoice.organisation_id != visit.organisation.id
        or invoice.customer_id != visit.customer.id
        or invoice.status == InvoiceStatus.DRAFT
    ):
        raise NotYours(invoice_id)
    return invoice


def _invoice_ids(raw: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for text in raw:
        text = text.strip()
        if not (text.isascii() and text.isdigit() and 0 < len(text) <= 12):
            raise NotYours(text[:20])
        if int(text) not in ids:
            ids.append(int(text))
    return ids


async def selected_invoices(
    session: AsyncSession, visit: Visit, raw_ids: Sequence[str]
) -> list[Invoice]:
    """The ticked invoices: each must be one of the customer's (else NotYours) and still
    outstanding (else BadPortalInput, as it may have been paid since the page was shown)."""
    if len(raw_ids) > MAX_SELECTED:
        raise BadPortalInput("invoice", "Too many invoices ticked at once.")
    ids = _invoice_ids(raw_ids)
    if not ids:
        raise BadPortalInput("invoice", "Tick the invoices this is about.")
    statement = select(Invoice).where(
        Invoice.organisation_id == visit.organisation.id,
        Invoice.customer_id == visit.customer.id,
        col(Invoice.id).in_(ids),
    )
    found = {invoice.id: invoice for invoice in (await session.exec(statement)).all()}
    if len(found) != len(ids):
        raise NotYours(next(i for i in ids if i not in found))
    invoices = [found[i] for i in ids]
    settled = [invoice.number for invoice in invoices if not is_outstanding(invoice)]
    if settled:
        raise BadPortalInput(
            "invoice",
            f"Nothing is due on {', '.join(settled)} any more: untick "
            f"{'it' if len(settled) == 1 else 'them'} and try again.",
        )
    return invoices


# --- what the customer typed -------------------------------------------------------------------


def clean_text(raw: str | None, field: str, required: str = "") -> str:
    """Trimmed text up to MAX_TEXT characters; `required` is the message when it is empty."""
    text = (raw or "").strip()
    if len(text) > MAX_TEXT:
        raise BadPortalInput(field, f"Please keep this under {MAX_TEXT:,} characters.")
    if required and not text:
        raise BadPortalInput(field, required)
    return text


def promise_limits(today: date) -> tuple[date, date]:
    return today, today + timedelta(days=PROMISE_DAYS_AHEAD)


def clean_promise_day(raw: str | None, today: date) -> date:
    """The promised payment day: from today to PROMISE_DAYS_AHEAD days on, in the
    organisation's today."""
    text = (raw or "").strip()
    if not text:
        raise BadPortalInput("until", "Choose the date you will pay on.")
    try:
        day = date.fromisoformat(text[:40])
    except ValueError:
        raise BadPortalInput("until", "That is not a date: use the date picker.") from None
    first, last = promise_limits(today)
    if day < first:
        raise BadPortalInput("until", "That date has passed: choose today or a later date.")
    if day > last:
        raise BadPortalInput(
            "until", f"Choose a date within the next {PROMISE_DAYS_AHEAD} days, or contact us."
        )
    return day


# --- the customer's actions --------------------------------------------------------------------


def _events(visit: Visit, invoices: Iterable[Invoice], kind: str, detail: str) -> list[Event]:
    return [
        Event(
            organisation_id=visit.organisation.id,
            invoice_id=invoice.id,
            kind=kind,
            detail=detail,
        )
        for invoice in invoices
    ]


async def record_says_paid(
    session: AsyncSession, visit: Visit, invoices: list[Invoice], note: str
) -> None:
    """On each invoice's timeline, for a person to check; chasing is left as it is."""
    detail = "the customer says this invoice is paid (payment portal)"
    if note:
        detail += f": {note}"
    session.add_all(_events(visit, invoices, SAYS_PAID, detail))
    await session.commit()
    log.info(
        "customer %s of organisation %s says %d invoice(s) are paid",
        visit.customer.id,
        visit.organisation.id,
        len(invoices),
    )


async def _tell_chases(
    state: State, invoices: list[Invoice], action: Action, reason: str, until: str | None
) -> tuple[list[Invoice], list[Invoice], str]:
    """Signal each invoice's chase; returns (signalled, not signalled, why not)."""
    signalled: list[Invoice] = []
    why = ""
    try:
        async with chase_engine(state, SIGNAL_SECONDS + len(invoices)) as client:
            for invoice in invoices:
                try:
                    await chase_control.act(
                        client, invoice, action, by=BY, reason=reason, until=until
                    )
                except NotChasing:
                    continue
                signalled.append(invoice)
    except ChaseEngineDown as down:
        why = f"the chase engine could not be reached: {down}"
    untold = [invoice for invoice in invoices if invoice not in signalled]
    if untold and not why:
        why = "no chase is running for it"
    return signalled, untold, why


async def promise_to_pay(
    state: State, session: AsyncSession, visit: Visit, invoices: list[Invoice], day: date
) -> Told:
    signalled, untold, why = await _tell_chases(
        state, invoices, Action.PROMISE, "", day.isoformat()
    )
    if untold:
        detail = (
            f"the customer promised through the payment portal to pay by {day.isoformat()}; "
            f"it is not yet on the chase ({why}): record the promise so chasing holds"
        )
        session.add_all(_events(visit, untold, PROMISED_UNTOLD, detail))
        await session.commit()
    _log_told("promise", visit, signalled, untold)
    return Told(signalled, untold)


async def dispute(
    state: State, session: AsyncSession, visit: Visit, invoices: list[Invoice], reason: str
) -> Told:
    signalled, untold, why = await _tell_chases(state, invoices, Action.DISPUTE, reason, None)
    if untold:
        detail = (
            f"the customer disputes this invoice (payment portal): {reason} — it is not yet on "
            f"the chase ({why}): open the dispute so chasing holds"
        )
        session.add_all(_events(visit, untold, DISPUTED_UNTOLD, detail))
        await session.commit()
    _log_told("dispute", visit, signalled, untold)
    return Told(signalled, untold)


def _log_told(what: str, visit: Visit, signalled: list[Invoice], untold: list[Invoice]) -> None:
    # Ids and counts only: no names, no notes, no link.
    log.info(
        "customer %s of organisation %s sent a %s: %d chase(s) told, %d kept on the timeline",
        visit.customer.id,
        visit.organisation.id,
        what,
        len(signalled),
        len(untold),
    )


PAYMENT_METHOD = re.compile(r"^(pm|card)_[A-Za-z0-9]{1,200}$")
"""Stripe.js's `pm_...`; localstripe's fake Stripe.js gives a token's `card_...`."""


# --- what the browser sent ---------------------------------------------------------------------


def read_card_request(body: Any) -> tuple[list[str], str]:
    """The invoice ids (as text, for `selected_invoices`) and the payment method id of
    `{"invoices": [ids], "payment_method": "pm_..."}`."""
    if not isinstance(body, dict):
        raise BadPortalInput("invoice", "The request was not understood: reload the page.")
    raw_ids = body.get("invoices")
    if not isinstance(raw_ids, list) or len(raw_ids) > MAX_SELECTED:
        raise BadPortalInput("invoice", "Tick the invoices you want to pay.")
    ids = [str(i) for i in raw_ids if isinstance(i, int | str) and not isinstance(i, bool)]
    if len(ids) != len(raw_ids):
        raise BadPortalInput("invoice", "The request was not understood: reload the page.")
    method = body.get("payment_method")
    if not isinstance(method, str) or not PAYMENT_METHOD.match(method):
        raise BadPortalInput("payment_method", "The card details were not understood.")
    return ids, method


def recent_attempts(state: State) -> RecentAttempts:
    """This web process's recent card charges (a double click finds the first)."""
    attempts = getattr(state, "card_attempts", None)
    if attempts is None:
        attempts = state.card_attempts = RecentAttempts()
    return attempts
