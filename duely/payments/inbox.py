"""Stripe events in: each is kept once, then turned into instructions for the invoices' chase
workflows ("dispatched").

Keeping comes first, so an event is never lost: if Temporal cannot be reached the row stays
undispatched and `dispatch_kept` tries again later. Dispatching twice is harmless: payment
rows are created once per payment and invoice, each chase takes a payment once (by its id),
and alerts are keyed by what happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from duely.chase import control as chase_control
from duely.chase.state import PaymentNotice
from duely.core.db import Database
from duely.models import (
    Alert,
    Event,
    Invoice,
    Organisation,
    Payment,
    PaymentSource,
    PaymentStatus,
    WebhookEvent,
    utcnow,
)
from duely.payments.allocations import (
    Allocation,
    BadAllocation,
    from_metadata,
    is_duelys,
    organisation_of,
)
from duely.payments.records import add_once
from duely.payments.stripe_events import MoneyIn, MoneyInQuestion, read_event

log = logging.getLogger(__name__)

STRIPE = "stripe"
DISPATCH_SECONDS = 30
"""How long one dispatch may take before the event is left to the worker's round (Stripe has
its answer already: the webhook answers once the event is kept)."""
TEMPORAL_DOWN = (RPCError, RuntimeError, OSError, TimeoutError)


async def keep(
    db: Database, event: dict[str, Any], organisation_id: int | None
) -> tuple[WebhookEvent, bool]:
    """Store the event once by its id. Returns the row and whether it is new."""
    event_id = str(event.get("id", ""))[:200]
    row = WebhookEvent(
        organisation_id=organisation_id,
        provider=STRIPE,
        event_id=event_id,
        event_type=str(event.get("type", ""))[:100],
        payload=json.dumps(event, separators=(",", ":")),
    )
    async with db.writing() as session:
        session.add(row)
        try:
            await session.commit()  # every field is set here: no read back needed
            return row, True
        except IntegrityError:
            await session.rollback()
        stored = (
            await session.exec(
                select(WebhookEvent).where(
                    WebhookEvent.provider == STRIPE, WebhookEvent.event_id == event_id
                )
            )
        ).one()
        return stored, False


async def dispatch(db: Database, client: Client, task_queue: str, row: WebhookEvent) -> bool:
    """Act on a kept event; True once done. Temporal being unreachable leaves it kept, with
    the error on the row for the integration-health view."""
    if row.processed_at is not None:
        return True
    try:
        async with asyncio.timeout(DISPATCH_SECONDS):
            meaning = read_event(json.loads(row.payload))
            if isinstance(meaning, MoneyIn) and row.organisation_id is not None:
                await _place(db, client, task_queue, row.organisation_id, meaning)
            elif isinstance(meaning, MoneyInQuestion) and row.organisation_id is not None:
                await _question(db, row.organisation_id, meaning)
    except TEMPORAL_DOWN as error:
        reason = str(error) or type(error).__name__
        if isinstance(error, TimeoutError):  # Temporal, or the database, is slow
            reason = f"not handed to the invoices' chases within {DISPATCH_SECONDS} s"
        log.warning("Stripe event %s kept for later: %s", row.event_id, reason)
        await mark_failed(db, row, reason)
        return False
    await _mark(db, row)
    return True


async def dispatch_kept(
    db: Database, client: Client, task_queue: str, older_than: timedelta = timedelta(seconds=10)
) -> int:
    """Dispatch what an outage left behind; returns how many were dispatched."""
    async with db.session() as session:
        kept = list(
            await session.exec(
                select(WebhookEvent)
                .where(
                    WebhookEvent.provider == STRIPE,
                    col(WebhookEvent.processed_at).is_(None),
                    WebhookEvent.received_at < utcnow() - older_than,
                )
                .order_by(col(WebhookEvent.id))
                .limit(500)
            )
        )
    done = 0
    for row in kept:
        if not await dispatch(db, client, task_queue, row):
            break  # Temporal is still away; the next round tries again
        done += 1
    return done


async def mark_failed(db: Database, row: WebhookEvent, error: str) -> None:
    """A dispatch that could not reach Temporal: kept, with the reason shown."""
    await _mark(db, row, error)


async def _mark(db: Database, row: WebhookEvent, error: str = "") -> None:
    async with db.writing() as session:
        stored = await session.get(WebhookEvent, row.id)
        if stored is None:  # kept before it is dispatched, and never deleted
            raise LookupError(f"Stripe event {row.event_id} is not kept any more")
        stored.attempts += 1
        stored.last_error = error
        if not error:
            stored.processed_at = utcnow()
        session.add(stored)
        await session.commit()
        row.processed_at, row.attempts, row.last_error = (
            stored.processed_at,
            stored.attempts,
            stored.last_error,
        )


# --- money in -----------------------------------------------------------------------------


async def _place(
    db: Database, client: Client, task_queue: str, organisation_id: int, money: MoneyIn
) -> None:
    """Tell each invoice's chase its share; what cannot be placed is queued as unmatched."""
    if not is_duelys(money.metadata):
        return  # taken outside duely's payment page (a shop, a subscription): not ours to place
    try:
        allocation = from_metadata(money.metadata)
        problem = _mismatch(organisation_id, allocation, money)
    except BadAllocation as error:
        allocation, problem = None, str(error)
    async with db.writing() as session:
        if problem or allocation is None:  # no allocation: the problem says why
            await _payment_row(
                session, organisation_id, money, "", money.amount, unmatched_because=problem
            )
            return
        invoices = {
            invoice.id: invoice
            for invoice in await session.exec(
                select(Invoice).where(
                    Invoice.organisation_id == organisation_id,
                    col(Invoice.id).in_([share.invoice_id for share in allocation.shares]),
                )
            )
        }
        session.expunge_all()  # they are handed on after the commits below, which would expire them
        told: list[tuple[Invoice, int]] = []
        for share in allocation.shares:
            invoice = invoices.get(share.invoice_id)
            if invoice is None:
                await _payment_row(
                    session,
                    organisation_id,
                    money,
                    str(share.invoice_id),
                    share.amount,
                    unmatched_because=f"invoice {share.invoice_id} is not in duely any more",
                )
                continue
            await _payment_row(
                session, organisation_id, money, str(invoice.id), share.amount, invoice.customer_id
            )
            told.append((invoice, share.amount))
    for invoice, amount in told:
        await chase_control.tell_payment(
            client,
            task_queue,
            invoice,
            PaymentNotice(
                amount=amount,
                currency=money.currency,
                reference=money.payment_id,
                source=PaymentSource.STRIPE,
                payment_id=money.payment_id,
                paid_at=money.paid_at.isoformat(),
            ),
        )


def _mismatch(organisation_id: int, allocation: Allocation, money: MoneyIn) -> str:
    if allocation.organisation_id != organisation_id:
        return "the payment names another organisation than the Stripe account it came from"
    if allocation.total != money.amount:
        return (
            f"the payment ({money.amount} in minor units) does not add up to its invoices' "
            f"shares ({allocation.total})"
        )
    return ""


async def _payment_row(
    session: AsyncSession,
    organisation_id: int,
    money: MoneyIn,
    invoice_ref: str,
    amount: int,
    customer_id: int | None = None,
    unmatched_because: str = "",
) -> None:
    """One row per payment and invoice, created once."""
    invoice_id = int(invoice_ref) if invoice_ref and not unmatched_because else None
    await add_once(  # told before: the row stands as it is
        session,
        Payment(
            organisation_id=organisation_id,
            invoice_id=invoice_id,
            invoice_ref=invoice_ref,
            customer_id=customer_id,
            amount=amount,
            currency=money.currency,
            source=PaymentSource.STRIPE,
            external_id=money.payment_id,
            status=PaymentStatus.UNMATCHED if unmatched_because else PaymentStatus.PENDING,
            reason=unmatched_because,
            paid_on=money.paid_at.date(),
            updated_at=utcnow(),
        ),
    )


# --- money in question --------------------------------------------------------------------


async def _question(db: Database, organisation_id: int, question: MoneyInQuestion) -> None:
    """A refund or dispute: on the timeline of every invoice the payment paid, and one alert.
    The ledger payment stands; reversing it is a person's decision."""
    async with db.writing() as session:
        payments = await _payments_of(session, organisation_id, question.payment_id)
        invoices = [p.invoice_id for p in payments if p.invoice_id is not None]
        for invoice_id in invoices:
            session.add(
                Event(
                    organisation_id=organisation_id,
                    invoice_id=invoice_id,
                    kind=question.kind,
                    detail=question.detail,
                )
            )
        if question.kind == "refund" and "in full" in question.detail:
            for payment in payments:
                payment.status = PaymentStatus.REFUNDED
                payment.updated_at = utcnow()
                session.add(payment)
        placed = "" if payments else "; duely knows no payment it belongs to"
        session.add(
            Alert(
                organisation_id=organisation_id,
                key=question.key[:200],
                kind=question.kind,
                detail=question.detail + placed,
                invoice_id=invoices[0] if invoices else None,
                payment_id=payments[0].id if payments else None,
            )
        )
        try:
            await session.commit()
        except IntegrityError:  # this very refund or dispute was dispatched before
            await session.rollback()


async def _payments_of(
    session: AsyncSession, organisation_id: int, payment_id: str
) -> list[Payment]:
    if not payment_id:
        return []
    return list(
        await session.exec(
            select(Payment).where(
                Payment.organisation_id == organisation_id,
                Payment.source == PaymentSource.STRIPE,
                Payment.external_id == payment_id,
            )
        )
    )


async def organisation_of_event(session: AsyncSession, event: dict[str, Any]) -> int | None:
    """Which organisation an (as yet unverified) event is about, to pick the secret that
    must have signed it: a Connect account's one owner, else the metadata duely wrote, or a
    payment duely already knows.

    A Connect event (it names its `account`) is only ever its account's owner's: money paid
    into an account nobody here owns is nobody's payment here, whatever its metadata says
    (anyone with a Stripe account could write another business's invoice into it)."""
    account = event.get("account")
    if account:
        return (
            await session.exec(
                select(Organisation.id).where(Organisation.stripe_account_id == str(account))
            )
        ).first()
    thing = (event.get("data") or {}).get("object") or {}
    if (organisation_id := organisation_of(thing.get("metadata"))) is not None:
        return organisation_id
    meaning = read_event(event)
    if isinstance(meaning, MoneyInQuestion) and meaning.payment_id:
        return (
            await session.exec(
                select(Payment.organisation_id).where(
                    Payment.source == PaymentSource.STRIPE,
                    Payment.external_id == meaning.payment_id,
                )
            )
        ).first()
    return None
