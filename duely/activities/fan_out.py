"""Telling many chase workflows at once, from an activity: after a sync, every invoice the run
changed; when an organisation switches chasing on, every open invoice it has.

From an activity and in batches, so a 10,000-invoice sync puts no 10,000 commands into one
workflow history; signal-with-start with "use existing", so telling twice is harmless and a
retried batch resumes from its heartbeat.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.sql import ColumnElement
from sqlmodel import select
from temporalio import activity

from duely.activities.heartbeat import hand_over_if_worker_stops
from duely.activities.sync import SyncPlan
from duely.chase.control import tell_chase
from duely.chase.eligibility import should_chase
from duely.core.db import Database
from duely.core.temporal.queues import CHASE, queue_for
from duely.models import ChaseMode, Invoice, InvoiceStatus, Organisation, saved_id

BATCH = 500
CONCURRENCY = 32


class FanOutActivities:
    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn
    async def fan_out_chases(self, plan: SyncPlan) -> int:
        """Every invoice this sync run changed: open ones start or re-plan their chase, paid
        and voided ones end it. While the organisation has chasing off, none starts."""
        async with self._db.session() as session:
            organisation = await session.get(Organisation, plan.organisation_id)
        return await self._tell(
            Invoice.synced_run_id == plan.run_id,
            start_new=organisation.chase_mode != ChaseMode.OFF,
            created_after=plan.last_invoice_id,
        )

    @activity.defn
    async def start_chases(self, organisation_id: int) -> int:
        """Every open invoice of an organisation that just switched chasing on."""
        return await self._tell(
            (Invoice.organisation_id == organisation_id) & (Invoice.status == InvoiceStatus.OPEN),
            start_new=True,
        )

    async def _tell(
        self, which: ColumnElement[bool], start_new: bool, created_after: int | None = None
    ) -> int:
        """Tell each invoice's chase; one created after `created_after` (by the sync run) has
        no chase to hear it unless this starts one: no signal is sent for it (on a first sync
        of 10,000 invoices, some 7,000 paid or voided ones were signalled, each answered "not
        found")."""
        details = activity.info().heartbeat_details
        after, told = details[0] if details else (0, 0)
        limit = asyncio.Semaphore(CONCURRENCY)
        # Run by a sync on the sync queue (or, for one started before syncs moved there, on
        # the chase queue): the chases go to the chase queue either way.
        client, queue = activity.client(), queue_for(activity.info().task_queue, CHASE)

        def unheard(invoice: Invoice) -> bool:
            return (
                created_after is not None
                and saved_id(invoice) > created_after
                and not invoice.workflow_id
                and not (start_new and should_chase(invoice))
            )

        async def tell(invoice: Invoice) -> str | None:
            if unheard(invoice):
                return None
            async with limit:
                if activity.is_worker_shutdown():  # the rest of the batch: the next worker's
                    return None
                return await tell_chase(client, queue, invoice, start_new)

        while True:
            async with self._db.session() as session:
                batch = list(
                    await session.exec(
                        select(Invoice)
                        .where(which, Invoice.id > after)
                        .order_by(Invoice.id)
                        .limit(BATCH)
                    )
                )
            if not batch:
                return told
            started = await asyncio.gather(*(tell(invoice) for invoice in batch))
            newly_started = [
                {"id": invoice.id, "workflow_id": workflow_id}
                for invoice, workflow_id in zip(batch, started, strict=True)
                if workflow_id and invoice.workflow_id != workflow_id
            ]
            if newly_started:
                async with self._db.session() as session:
                    await session.exec(update(Invoice), params=newly_started)
                    await session.commit()
            # A stop mid-batch leaves the heartbeat at the batch before: the next worker tells
            # the whole batch again, which is harmless (signal-with-start, "use existing").
            hand_over_if_worker_stops("telling the chases")
            after, told = batch[-1].id, told + len(batch)
            activity.heartbeat((after, told))
