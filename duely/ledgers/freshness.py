"""The re-read before a reminder goes out, at the price of one sync per connection per send
window (DESIGN section 3).

Every outbox sending in the same minutes needs the same thing: the ledger as it is now. So
instead of one read per customer (5,000 customers due at 09:00 would spend Xero's whole day of
5,000 calls), the first outbox to ask requests an incremental sync of the connection and
waits for it; the others, in this process, wait for the same sync and find it fresh. A sync
counts when it *began* at or after the moment asked for (a pass that began earlier may have
read an invoice before its payment).

Ledgers whose changes do not show a payment (AccountsIQ: an invoice's header does not change
when it is paid) are read by id instead, as is any connection whose sync fails or is slow.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import col, select
from temporalio.client import Client

from duely.core.db import Database
from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection, Provider, SyncRun, SyncStatus
from duely.settings import Settings

CHANGES_SHOW_PAYMENTS = frozenset({Provider.XERO, Provider.QUICKBOOKS, Provider.CSV})
"""Ledgers whose incremental sync sees an invoice paid: Xero and QuickBooks change the
invoice's updated stamp with its amount due; a spreadsheet import rewrites the row."""

POLL_SECONDS = 0.25


class Freshness:
    """Per process: one lock per connection, so its outboxes share one sync."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db
        self._locks: dict[int, asyncio.Lock] = {}

    async def synced_since(
        self, client: Client, connection: Connection, moment: datetime, patience: float
    ) -> bool:
        """True once a sync of `connection` that began at or after `moment` has succeeded,
        requesting one if none has; False if the ledger's changes cannot show a payment, or
        no such sync succeeds within `patience` seconds (the caller then reads by id)."""
        if connection.provider not in CHANGES_SHOW_PAYMENTS or connection.id is None:
            return False
        lock = self._locks.setdefault(connection.id, asyncio.Lock())
        async with lock:
            status = await self._status_since(connection.id, moment)
            if status is None:
                await request_sync(client, self._settings, connection)
            try:
                async with asyncio.timeout(patience):
                    while status in (None, SyncStatus.RUNNING):
                        await asyncio.sleep(POLL_SECONDS)
                        status = await self._status_since(connection.id, moment)
            except TimeoutError:
                return False
            return status == SyncStatus.SUCCEEDED

    async def _status_since(self, connection_id: int, moment: datetime) -> str | None:
        """The status of the connection's latest sync, if it began at or after `moment`."""
        async with self._db.session() as session:
            latest = (
                await session.exec(
                    select(SyncRun)
                    .where(SyncRun.connection_id == connection_id)
                    .order_by(col(SyncRun.id).desc())
                    .limit(1)
                )
            ).first()
        if latest is None or _aware(latest.started_at) < _aware(moment):
            return None
        return latest.status


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
