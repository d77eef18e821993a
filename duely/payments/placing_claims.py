"""One attempt at a time places a payment in the ledger: the payment's row is claimed.

An attempt claims the row with a compare-and-set (`payments.placing_until`: free when empty or
in the past), renews the claim while it works and clears it when it is done. A second attempt
that finds a live claim (a retry while the first is still writing, a second worker, a second
chase) writes nothing and tries again when the claim would run out. A worker that dies leaves a
claim that runs out by itself within CLAIM_LEASE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from duely.core.db import Database
from duely.models import Payment, PaymentStatus, utcnow

CLAIM_LEASE = timedelta(seconds=60)
RENEW_EVERY = CLAIM_LEASE / 3


class ClaimLost(Exception):  # noqa: N818 - it names what happened
    """The attempt could not renew its claim in time and another one took the payment over."""


@dataclass
class Claim:
    payment_id: int
    until: datetime
    """The claim's expiry, and its mark: only the attempt holding this value may renew it."""
    lost: bool = False


async def claim(db: Database, payment_id: int) -> Claim | None:
    """The pending payment, claimed for this attempt (its try counted); None when another
    attempt holds a live claim or the payment is no longer pending."""
    now = utcnow()
    until = now + CLAIM_LEASE
    async with db.session() as session:
        taken = await session.exec(
            update(Payment)
            .where(
                col(Payment.id) == payment_id,
                col(Payment.status) == PaymentStatus.PENDING,
                or_(col(Payment.placing_until).is_(None), col(Payment.placing_until) < now),
            )
            .values(placing_until=until, attempts=col(Payment.attempts) + 1, updated_at=now)
        )
        await session.commit()
    return Claim(payment_id, until) if taken.rowcount == 1 else None


async def _move(db: Database, held: Claim, until: datetime | None) -> bool:
    async with db.session() as session:
        moved = await session.exec(
            update(Payment)
            .where(col(Payment.id) == held.payment_id, col(Payment.placing_until) == held.until)
            .values(placing_until=until)
        )
        await session.commit()
    return moved.rowcount == 1


@contextlib.asynccontextmanager
async def kept(db: Database, held: Claim) -> AsyncIterator[Claim]:
    """Renew the claim while the block runs, then clear it. If a renewal finds the claim gone
    (taken over after it ran out), the block is cancelled and ClaimLost raised: this attempt
    must not write what another is writing."""
    owner = asyncio.current_task()
    if owner is None:
        raise RuntimeError("a claim is kept by a task: kept() must run inside one")
    done = asyncio.Event()

    async def renew() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), RENEW_EVERY.total_seconds())
                return
            until = utcnow() + CLAIM_LEASE
            if not await _move(db, held, until):
                held.lost = True
                owner.cancel()
                return
            held.until = until

    renewing = asyncio.create_task(renew())
    try:
        yield held
    except asyncio.CancelledError:
        if held.lost and owner.uncancel() == 0:
            raise ClaimLost("another attempt took over placing this payment") from None
        raise
    finally:
        done.set()  # a renewal under way finishes first, so the claim is cleared as it stands
        await renewing
        if not held.lost:
            await _move(db, held, None)
