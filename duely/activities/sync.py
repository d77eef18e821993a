"""Activities of LedgerSyncWorkflow: plan a run, mirror contacts and invoices page by page
(resuming from the last heartbeat after a crash), and record how the run went."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlmodel import col, func, select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from duely.activities.errors import as_application_error
from duely.activities.heartbeat import hand_over_if_worker_stops, heartbeating
from duely.core.db import Database
from duely.integrations.ledgers.base import Changes, Ledger, LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.mirror import (
    Scope,
    replace_contact_groups,
    replace_credits,
    upsert_contacts,
    upsert_invoices,
)
from duely.models import (
    Connection,
    ConnectionStatus,
    Customer,
    Invoice,
    SyncRun,
    SyncStatus,
    utcnow,
)
from duely.settings import Settings


@dataclass
class SyncPlan:
    run_id: int
    connection_id: int
    organisation_id: int
    full: bool
    contacts_since: str | None
    invoices_since: str | None
    skip_reason: str = ""
    last_invoice_id: int | None = None
    """The largest invoice id when the run began: a larger one is an invoice this run created,
    which no chase can have heard of yet. None (a plan from before this field): unknown."""


@dataclass
class PassProgress:
    """Where a pass resumes after a crash; also its result. Instants are ISO text."""

    next_cursor: str | None
    next_page: int = 1
    pages: int = 0
    seen: int = 0
    changed: int = 0
    newest: str | None = None


@dataclass
class SyncOutcome:
    run_id: int
    full: bool
    contacts: PassProgress
    invoices: PassProgress


T = TypeVar("T")


@dataclass
class SyncFailure:
    run_id: int
    message: str


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


async def _read_ahead(pages: AsyncIterator[Changes]) -> AsyncIterator[Changes]:
    """The pages, the next one already asked for while the caller writes this one: the
    ledger's answer and the database write overlap. Progress is still recorded only for
    written pages, so a pass resumed after a crash reads the page that was ahead again."""
    upcoming: asyncio.Future[Changes] = asyncio.ensure_future(anext(pages))
    try:
        while True:
            try:
                page = await upcoming
            except StopAsyncIteration:
                return
            upcoming = asyncio.ensure_future(anext(pages))
            yield page
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await upcoming


KeepSchedule = Callable[[Client, Settings, Connection], Awaitable[None]]


class LedgerSyncActivities:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        ledgers: Ledgers,
        keep_schedule: KeepSchedule | None = None,
    ) -> None:
        """`keep_schedule` puts a connection's sync schedule right: the worker passes
        duely.ledgers.sync_schedule.ensure_sync_schedule, which this module cannot import (it
        names the sync workflow, whose module imports this one). Tests of the passes alone
        leave it out."""
        self._settings = settings
        self._db = db
        self._ledgers = ledgers
        self._keep_schedule = keep_schedule

    @activity.defn
    async def begin_sync(self, connection_id: int) -> SyncPlan:
        async with self._db.session() as session:
            connection = await session.get(Connection, connection_id)
            if connection is None:
                raise ApplicationError(f"connection {connection_id} is gone", non_retryable=True)
            if (
                self._keep_schedule
                and activity.info().task_queue == self._settings.temporal_task_queue
            ):
                # Started by a schedule made before syncs moved to the sync queue: put it
                # right, so that the connection's next syncs run there.
                await self._keep_schedule(activity.client(), self._settings, connection)
            last_full = connection.last_full_sync_at
            full = last_full is None or utcnow() - last_full > timedelta(
                hours=self._settings.full_reconcile_hours
            )
            run = SyncRun(
                organisation_id=connection.organisation_id,
                connection_id=connection_id,
                full=full,
                workflow_id=activity.info().workflow_id,
            )
            skip = ""
            if connection.status == ConnectionStatus.NEEDS_RECONNECT:
                skip = connection.last_error or "the connection needs reconnecting"
                run.status, run.error, run.finished_at = SyncStatus.FAILED, skip, utcnow()
            session.add(run)
            await session.commit()
            last_invoice_id = (await session.exec(select(func.max(Invoice.id)))).one()
            return SyncPlan(
                run_id=run.id,
                connection_id=connection_id,
                organisation_id=connection.organisation_id,
                full=full,
                contacts_since=None
                if full or not connection.contacts_watermark
                else connection.contacts_watermark.isoformat(),
                invoices_since=None
                if full or not connection.sync_watermark
                else connection.sync_watermark.isoformat(),
                skip_reason=skip,
                last_invoice_id=last_invoice_id or 0,
            )

    async def _mirror(self, plan: SyncPlan, invoices: bool) -> PassProgress:
        details = activity.info().heartbeat_details
        since = plan.invoices_since if invoices else plan.contacts_since
        progress = PassProgress(**details[0]) if details else PassProgress(next_cursor=since)
        scope = Scope(plan.organisation_id, plan.connection_id)
        async with self._db.session() as session:
            connection = await session.get(Connection, plan.connection_id)
        try:
            ledger = self._ledgers.open(connection)
            pages = (ledger.changed_invoices if invoices else ledger.changed_contacts)(
                _instant(progress.next_cursor), progress.next_page
            )
            # Closed on the way out, so a pass that ends early (a ledger error, a worker
            # stopping) cancels the page it was reading ahead instead of leaving it running.
            reading = contextlib.aclosing(_read_ahead(pages))
            async with heartbeating(lambda: asdict(progress)), reading as ahead:
                async for page in ahead:
                    async with self._db.session() as session:
                        if invoices:
                            changed = await upsert_invoices(session, scope, page.items, plan.run_id)
                        else:
                            changed = await upsert_contacts(session, scope, page.items)
                    newest = max((i.updated_at for i in page.items if i.updated_at), default=None)
                    progress.pages += 1
                    progress.seen += len(page.items)
                    progress.changed += changed
                    if newest and (progress.newest is None or newest > _instant(progress.newest)):
                        progress.newest = newest.isoformat()
                    progress.next_cursor = page.next_cursor and page.next_cursor.isoformat()
                    progress.next_page = page.next_page
                    activity.heartbeat(asdict(progress))
                    if invoices:
                        await self._report_progress(plan.run_id, progress)
                    hand_over_if_worker_stops("the sync's pass")
        except LedgerError as error:
            raise as_application_error(error) from error
        return progress

    async def _report_progress(self, run_id: int, progress: PassProgress) -> None:
        async with self._db.session() as session:
            run = await session.get(SyncRun, run_id)
            run.pages, run.invoices_seen = progress.pages, progress.seen
            run.invoices_changed = progress.changed
            await session.commit()

    @activity.defn
    async def sync_contacts(self, plan: SyncPlan) -> PassProgress:
        """Changed contacts; on a full sync (daily), the ledger's contact groups too, read
        whole: they change seldom, and Xero lists a group's members one call per group."""
        progress = await self._mirror(plan, invoices=False)
        if not plan.full:
            return progress
        groups = await self._read_whole(plan, lambda ledger: ledger.contact_groups())
        async with self._db.session() as session:
            await replace_contact_groups(
                session, Scope(plan.organisation_id, plan.connection_id), groups
            )
        return progress

    @activity.defn
    async def sync_invoices(self, plan: SyncPlan) -> PassProgress:
        """Changed invoices, then the customers' credit against them, read whole each time."""
        # The credit is read while the pages are written (a few calls the ledger answers in
        # the meantime); it is written after them, once every customer it names exists.
        reading = asyncio.ensure_future(self._read_whole(plan, lambda ledger: ledger.open_credit()))
        try:
            progress = await self._mirror(plan, invoices=True)
        except BaseException:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
            raise
        credit = await reading
        async with self._db.session() as session:
            await replace_credits(session, Scope(plan.organisation_id, plan.connection_id), credit)
        return progress

    async def _read_whole(
        self, plan: SyncPlan, read: Callable[[Ledger], Awaitable[list[T]]]
    ) -> list[T]:
        """Something the sync reads whole each time (few records: credit, contact groups)."""
        async with self._db.session() as session:
            connection = await session.get(Connection, plan.connection_id)
        try:
            return await read(self._ledgers.open(connection))
        except LedgerError as error:
            raise as_application_error(error) from error

    @activity.defn
    async def sync_missing_contacts(self, plan: SyncPlan) -> int:
        """Customers that an invoice named before their contact came through (a contact is a
        customer from its first invoice on): read their details by id, in batches."""
        scope = Scope(plan.organisation_id, plan.connection_id)
        async with self._db.session() as session:
            connection = await session.get(Connection, plan.connection_id)
            missing = (
                await session.exec(
                    select(Customer.external_id).where(
                        Customer.connection_id == plan.connection_id,
                        col(Customer.source_updated_at).is_(None),
                    )
                )
            ).all()
        if not missing:
            return 0
        try:
            contacts = await self._ledgers.open(connection).get_contacts(list(missing))
        except LedgerError as error:
            raise as_application_error(error) from error
        async with self._db.session() as session:
            return await upsert_contacts(session, scope, contacts)

    @activity.defn
    async def finish_sync(self, outcome: SyncOutcome) -> None:
        async with self._db.session() as session:
            run = await session.get(SyncRun, outcome.run_id)
            connection = await session.get(Connection, run.connection_id)
            now = utcnow()
            run.status, run.finished_at = SyncStatus.SUCCEEDED, now
            run.pages = outcome.contacts.pages + outcome.invoices.pages
            run.contacts_changed = outcome.contacts.changed
            run.invoices_seen = outcome.invoices.seen
            run.invoices_changed = outcome.invoices.changed
            if outcome.invoices.newest:
                connection.sync_watermark = max(
                    filter(None, (connection.sync_watermark, _instant(outcome.invoices.newest)))
                )
            if outcome.contacts.newest:
                connection.contacts_watermark = max(
                    filter(None, (connection.contacts_watermark, _instant(outcome.contacts.newest)))
                )
            if outcome.full:
                connection.last_full_sync_at = run.started_at
            connection.last_success_at, connection.last_error = now, ""
            await session.commit()

    @activity.defn
    async def fail_sync(self, failure: SyncFailure) -> None:
        async with self._db.session() as session:
            run = await session.get(SyncRun, failure.run_id)
            run.status, run.error, run.finished_at = SyncStatus.FAILED, failure.message, utcnow()
            connection = await session.get(Connection, run.connection_id)
            connection.last_error = failure.message
            await session.commit()
