"""Activities that write to a ledger. Each is safe to retry: payments carry an idempotency key
from business ids and are looked up by reference before they are written again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from temporalio import activity

from duely.activities.errors import as_application_error
from duely.db import Database
from duely.integrations.ledgers.base import LedgerError, PaymentToRecord
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection


@dataclass
class LedgerPayment:
    connection_id: int
    invoice_external_id: str
    amount: int
    currency: str
    paid_on: str
    """ISO date (YYYY-MM-DD): payloads carry text, and the ledger books calendar days."""
    reference: str
    """Unique per payment and invoice, e.g. `duely:{stripe payment id}:{invoice id}`."""
    account_code: str

    @property
    def idempotency_key(self) -> str:
        return self.reference[:128]


class LedgerWriteActivities:
    def __init__(self, db: Database, ledgers: Ledgers) -> None:
        self._db = db
        self._ledgers = ledgers

    async def _connection(self, connection_id: int) -> Connection:
        async with self._db.session() as session:
            return await session.get(Connection, connection_id)

    @activity.defn
    async def record_payment_in_ledger(self, payment: LedgerPayment) -> str:
        """Record the payment once; returns the ledger's payment id."""
        ledger = self._ledgers.open(await self._connection(payment.connection_id))
        try:
            recorded = await ledger.record_payment(
                PaymentToRecord(
                    invoice_external_id=payment.invoice_external_id,
                    amount=payment.amount,
                    currency=payment.currency,
                    paid_on=date.fromisoformat(payment.paid_on),
                    reference=payment.reference,
                    idempotency_key=payment.idempotency_key,
                    account_code=payment.account_code,
                )
            )
        except LedgerError as error:
            raise as_application_error(error) from error
        return recorded.external_id
