"""duely's record of a payment: one `Payment` row per payment and invoice, written once however
many times Stripe, the sweep or a retried activity tell of it (a unique index holds it)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Payment


async def add_once(session: AsyncSession, payment: Payment) -> bool:
    """Store the row and commit; False, with the session rolled back (which expires what it
    held), when a row of the same payment and invoice was written first."""
    session.add(payment)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True
