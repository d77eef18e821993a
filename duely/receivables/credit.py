"""A customer's credit (credit notes, overpayments, prepayments not yet set against an
invoice, as the ledger said at the last sync) and what they owe net of it. Amounts in
different currencies are never added together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Credit

CreditByCurrency = dict[str, int]
CREDIT_KINDS = {
    "credit_note": "credit note",
    "overpayment": "overpayment",
    "prepayment": "prepayment",
}
"""Each kind of credit, in words."""


@dataclass(frozen=True)
class NetDue:
    currency: str
    due: int
    credit: int

    @property
    def net(self) -> int:
        """What is left to pay once the credit is set against the invoices (never below 0)."""
        return max(0, self.due - self.credit)


async def credit_of(session: AsyncSession, organisation_id: int, customer_id: int) -> list[Credit]:
    """The customer's credit documents, oldest first."""
    rows = await session.exec(
        select(Credit)
        .where(Credit.organisation_id == organisation_id, Credit.customer_id == customer_id)
        .order_by(col(Credit.issue_date), col(Credit.id))
    )
    return list(rows)


def by_currency(credits: Iterable[Credit]) -> CreditByCurrency:
    totals: CreditByCurrency = {}
    for credit in credits:
        totals[credit.currency] = totals.get(credit.currency, 0) + credit.remaining
    return totals


async def credit_by_currency(
    session: AsyncSession, organisation_id: int, customer_id: int
) -> CreditByCurrency:
    return by_currency(await credit_of(session, organisation_id, customer_id))


def net_due(due: Iterable[tuple[str, int]], credit: Mapping[str, int]) -> list[NetDue]:
    """Each currency's amount due beside the credit in that currency (credit in a currency
    nothing is due in sets nothing off, and is not listed)."""
    return [NetDue(currency, amount, credit.get(currency, 0)) for currency, amount in due]
