"""Placing card payments in a ledger, together: the rules and the calls, no Temporal, no database.

Each invoice's chase places its own share of a payment (duely.activities.payments), but the
ledger's rate limit is per organisation (Xero: 60 calls a minute), so shares that wait while a
write is in flight for the same connection go together in the next round: one read of their
invoices, one lookup of their references, then one write per share. A round of one is three
calls, so a lone payment waits for nothing.

Each write carries its own share only, under an idempotency key that is the share's reference
(the payment and the invoice, nothing else): whichever shares happen to travel together, a
repeated write of a share is the same request under the same key. A key made from the whole
round would differ between two rounds composed differently, and both would write.

Before anything is written or refused, the ledger is searched for each share's reference (a
lost answer may hide a write that happened). A share for an invoice that is paid, voided,
gone, in another currency or owes less, and not by this very payment, is unmatched: never
written, never guessed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from duely.core.money import to_major
from duely.integrations.ledgers.base import (
    Ledger,
    LedgerError,
    LedgerInvoice,
    LedgerRejected,
    PaymentToRecord,
    RecordedPayment,
)
from duely.models import InvoiceStatus

RECORDED, ALREADY_RECORDED, UNMATCHED = "recorded", "already recorded", "unmatched"
MOST_AT_ONCE = 25
"""Shares in one round: one lookup call holds 25 references."""


class NoPaymentAccount(LedgerError):
    """The organisation names no ledger account for card payments in this currency: a setting
    a person must choose (duely.payments.ledger_trouble)."""


@dataclass(frozen=True)
class Share:
    """One invoice's share of a payment, with what the ledger needs to book it."""

    reference: str
    """Unique per payment and invoice, the same on every attempt."""
    invoice_external_id: str
    invoice_number: str
    amount: int
    currency: str
    paid_on: date
    account_code: str
    """"" when the organisation set none for this currency."""


@dataclass(frozen=True)
class Placed:
    outcome: str
    """RECORDED, ALREADY_RECORDED or UNMATCHED."""
    ledger_payment_id: str = ""
    reason: str = ""
    """Why it is unmatched."""
    after: LedgerInvoice | None = None
    """The invoice as the ledger holds it once this share is in (None: not in the ledger)."""


async def place_together(
    ledger: Ledger, shares: list[Share], provider: str
) -> list[Placed | LedgerError]:
    """Each share's fate, in order. A failed read fails them all (LedgerError raised); a
    failed write fails its own share only. The shares are for different invoices: each is
    judged against its invoice as read."""
    if len({share.invoice_external_id for share in shares}) != len(shares):
        raise ValueError("one round places at most one share per invoice")
    invoices = {
        invoice.external_id: invoice
        for invoice in await ledger.get_invoices([s.invoice_external_id for s in shares])
    }
    found = await ledger.find_payments([share.reference for share in shares])
    fates: list[Placed | LedgerError] = []
    writing: list[tuple[int, Placed]] = []  # each share to write: its place in fates, its fate
    for share in shares:
        current = invoices.get(share.invoice_external_id)
        if share.reference in found:
            fates.append(Placed(ALREADY_RECORDED, found[share.reference], after=current))
        elif problem := unplaceable(share, current, provider):
            fates.append(Placed(UNMATCHED, reason=problem, after=current))
        elif not share.account_code and ledger.needs_payment_account:
            fates.append(
                NoPaymentAccount(
                    f"no ledger account is set for card payments in {share.currency}: "
                    "set one under Settings, Card payments"
                )
            )
        elif current is None:  # never: unplaceable() answers for an invoice the ledger lacks
            raise AssertionError(f"{share.invoice_number} is not in the ledger, yet placeable")
        else:
            left = current.amount_due - share.amount
            status = InvoiceStatus.PAID if left == 0 else current.status
            recorded = Placed(RECORDED, after=replace(current, amount_due=left, status=status))
            fates.append(recorded)
            writing.append((len(fates) - 1, recorded))
    if writing:
        answers = await asyncio.gather(
            *(
                _write(ledger, shares[n], invoices[shares[n].invoice_external_id])
                for n, _ in writing
            ),
            return_exceptions=True,
        )
        for (n, recorded), answer in zip(writing, answers, strict=True):
            if isinstance(answer, RecordedPayment):
                fates[n] = replace(recorded, ledger_payment_id=answer.external_id)
            elif isinstance(answer, LedgerError):
                fates[n] = answer
            else:  # a bug, not the ledger's answer
                raise answer
    return fates


def unplaceable(share: Share, current: LedgerInvoice | None, provider: str) -> str:
    """Why the share cannot be written against the invoice as the ledger has it now."""
    ledger, number = provider.title(), share.invoice_number
    nothing = "nothing was written to the ledger"
    if current is None:
        return f"{number} is no longer in {ledger}; {nothing}"
    if current.status == InvoiceStatus.VOIDED:
        return f"{number} is voided in {ledger}; {nothing}"
    if current.status == InvoiceStatus.PAID or current.amount_due <= 0:
        return f"{number} is already paid in {ledger}; {nothing}"
    if current.currency != share.currency:
        return (
            f"the payment is in {share.currency} but {number} is in {current.currency}; {nothing}"
        )
    if share.amount > current.amount_due:
        due = f"{current.currency} {to_major(current.amount_due, current.currency):,}"
        return (
            f"{share.currency} {to_major(share.amount, share.currency):,} is more than the "
            f"{due} still due on {number}; {nothing}"
        )
    return ""


def _to_record(share: Share, invoice: LedgerInvoice) -> PaymentToRecord:
    return PaymentToRecord(
        invoice_external_id=share.invoice_external_id,
        amount=share.amount,
        currency=share.currency,
        paid_on=share.paid_on,
        reference=share.reference,
        idempotency_key=idempotency_key(share),
        account_code=share.account_code,
        contact_external_id=invoice.contact_external_id,
    )


def idempotency_key(share: Share) -> str:
    """The ledger's idempotency key for writing the share: its reference, which names the
    payment and the invoice and nothing else (not the attempt, not the round)."""
    return share.reference


async def _write(ledger: Ledger, share: Share, invoice: LedgerInvoice) -> RecordedPayment:
    """One share, one write: the request (and so its key) is the same whatever else is placed
    in the same round. Raises the ledger's refusal of it."""
    payment = _to_record(share, invoice)
    (answer,) = await ledger.record_payments([payment], payment.idempotency_key)
    if isinstance(answer, LedgerRejected):
        raise answer
    return answer


class LedgerWriteQueue:
    """One connection's shares waiting to be placed. The first share starts a round at once;
    shares that arrive meanwhile go in the next one."""

    def __init__(self) -> None:
        self._waiting: list[tuple[Share, asyncio.Future[Placed]]] = []
        self._rounds: asyncio.Task[None] | None = None

    async def place(self, ledger: Ledger, share: Share, provider: str) -> Placed:
        """The share's fate; raises its LedgerError. Cancelling the caller leaves the share
        out of any round not yet begun."""
        fate: asyncio.Future[Placed] = asyncio.get_running_loop().create_future()
        self._waiting.append((share, fate))
        if self._rounds is None:
            self._rounds = asyncio.create_task(self._run_rounds(ledger, provider))
        return await fate

    async def _run_rounds(self, ledger: Ledger, provider: str) -> None:
        try:
            while self._waiting:
                taken = self._next_round()
                if not taken:
                    continue
                fates: Sequence[Placed | Exception]
                try:
                    fates = await place_together(ledger, [share for share, _ in taken], provider)
                except Exception as error:  # noqa: BLE001 - handed to every caller of the round
                    fates = [error] * len(taken)
                for (_, waiting), fate in zip(taken, fates, strict=True):
                    if waiting.done():  # its caller gave up; its retry looks the reference up
                        continue
                    if isinstance(fate, BaseException):
                        waiting.set_exception(fate)
                    else:
                        waiting.set_result(fate)
        finally:
            self._rounds = None

    def _next_round(self) -> list[tuple[Share, asyncio.Future[Placed]]]:
        """Up to MOST_AT_ONCE waiting shares, one per invoice: a second share for an invoice
        waits for the next round, to be judged against the invoice the first one left."""
        taken: list[tuple[Share, asyncio.Future[Placed]]] = []
        invoices: set[str] = set()
        waiting: list[tuple[Share, asyncio.Future[Placed]]] = []
        for share, fate in self._waiting:
            if fate.done():  # its caller gave up
                continue
            if len(taken) < MOST_AT_ONCE and share.invoice_external_id not in invoices:
                taken.append((share, fate))
                invoices.add(share.invoice_external_id)
            else:
                waiting.append((share, fate))
        self._waiting = waiting
        return taken
