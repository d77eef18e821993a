"""duely as it runs, on the real Temporal dev server: the web app on a loopback socket and a
worker, both on an event loop of their own (tests/own_loop.py says why), which the test
reaches as a browser would, over HTTP. The `live` fixture in tests/conftest.py hands a test
one `Live`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from duely.chase import control as chase_control
from duely.chase.state import ChaseView
from duely.core.db import Database
from duely.core.temporal import names
from duely.core.temporal.client import connect
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Contact, Customer, Invoice
from duely.settings import Settings
from duely.web.app import create_app
from duely.worker import build_worker
from tests.factories import add_customer, today_in
from tests.own_loop import on_own_loop
from tests.serving import serve, shut
from tests.waiting import eventually

WAIT_SECONDS = 30


@dataclass
class Live:
    """duely's app and a worker on the dev server, and what the test started there."""

    settings: Settings
    temporal: Client
    web: httpx.AsyncClient
    db: Session
    app_loop: asyncio.AbstractEventLoop
    """The event loop the worker and the web app run on."""
    started: list[Invoice] = field(default_factory=list)

    async def start(self, invoice: Invoice) -> None:
        self.started.append(invoice)
        await chase_control.tell_chase(self.temporal, self.settings.temporal_task_queue, invoice)
        await self.state_is(invoice, "scheduled")

    async def view(self, invoice: Invoice) -> ChaseView | None:
        return await chase_control.view(self.temporal, invoice)

    async def state_is(self, invoice: Invoice, state: str) -> ChaseView:
        """Wait until the chase shows `state` (signals are handled a moment after sending)."""

        async def reached() -> ChaseView | None:
            view = await self.view(invoice)
            return view if view is not None and view.state == state else None

        return await eventually(
            reached, f"chase of {invoice.number} never became {state}", WAIT_SECONDS
        )

    async def finished(self, invoice: Invoice, result: str) -> None:
        """Wait until the chase's workflow has ended (its view says so a moment earlier)."""
        handle = self.temporal.get_workflow_handle(
            names.chase_workflow_id(invoice.organisation_id, invoice.id)
        )
        async with asyncio.timeout(WAIT_SECONDS):
            assert await handle.result() == result

    async def signals(self, invoice: Invoice, name: str = "chasing_changed") -> int:
        """How many `name` signals the invoice's chase's history holds. (One that arrives
        during a workflow task joins the history when the task completes: see `told`.)"""
        handle = self.temporal.get_workflow_handle(
            names.chase_workflow_id(invoice.organisation_id, invoice.id)
        )
        history = await handle.fetch_history()
        return sum(
            1
            for event in history.events
            if event.workflow_execution_signaled_event_attributes.signal_name == name
        )

    async def told(self, invoice: Invoice, times: int) -> None:
        """Wait until the chase has had `times` chasing_changed signals; fail on more."""

        async def reached() -> bool:
            count = await self.signals(invoice)
            assert count <= times, f"chase of {invoice.number} told {count} times"
            return count == times

        await eventually(
            reached, f"chase of {invoice.number} was not told {times} times", WAIT_SECONDS
        )

    def invoice(self, invoice: Invoice) -> Invoice:
        self.db.expire_all()
        return self.db.get(Invoice, invoice.id)


@contextlib.asynccontextmanager
async def duely_worker(
    settings: Settings, http: httpx.AsyncClient | None = None
) -> AsyncIterator[None]:
    """duely's worker on `settings`, with a Temporal client of the running loop's own; its
    ledgers call out through `http` (a client that records, say)."""
    database = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, database, http=http)
    try:
        async with build_worker(await connect(settings), settings, database, ledgers):
            yield
    finally:
        await ledgers.aclose()
        await database.dispose()


@contextlib.asynccontextmanager
async def running(settings: Settings, temporal: Client, db: Session) -> AsyncIterator[Live]:
    """A worker and the app on `settings`, on their own loop (tests/own_loop.py); afterwards,
    the chases the test started end."""

    @contextlib.asynccontextmanager
    async def app() -> AsyncIterator[str]:
        async with duely_worker(settings):
            served = await serve(create_app(settings))
            try:
                yield served.url
            finally:
                await shut(served)

    harness = None
    try:
        async with (
            on_own_loop(app) as (url, loop),
            httpx.AsyncClient(base_url=url, timeout=30) as web,
        ):
            harness = Live(settings, temporal, web, db, loop)
            yield harness
    finally:
        if harness:
            await forget(temporal, harness.started)


async def forget(temporal: Client, invoices: list[Invoice]) -> None:
    """The dev server outlives the test: end what this test started, so that a later test's
    invoice with the same id (each test's database counts from 1) starts clean."""
    ids = {names.chase_workflow_id(i.organisation_id, i.id) for i in invoices}
    ids |= {names.outbox_workflow_id(i.organisation_id, i.customer_id) for i in invoices}
    for workflow_id in ids:
        handle = temporal.get_workflow_handle(workflow_id)
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")
        except RPCError:
            pass  # never started, or already gone


def open_invoice(db: Session, org_id: int, name: str = "Acme") -> Invoice:
    """An open invoice due in ten days, of a customer with a contact. Its id is unique on the
    shared dev server, where earlier tests' chases of "invoice 1" may linger."""
    customer = add_customer(db, org_id, f"{name} {uuid.uuid4().hex[:6]}")
    db.add(
        Contact(
            organisation_id=org_id,
            customer_id=customer.id,
            first_name="Sam",
            email=f"sam@{name.lower()}.test",
        )
    )
    return add_open_invoice(db, customer, f"INV-{name.upper()}")


def add_open_invoice(db: Session, customer: Customer, number: str) -> Invoice:
    invoice = Invoice(
        id=10_000 + uuid.uuid4().int % 10**9,
        organisation_id=customer.organisation_id,
        customer_id=customer.id,
        external_id=f"ext-{number}",
        number=number,
        issue_date=today_in(),
        due_date=today_in() + timedelta(days=10),
        currency="GBP",
        total=42_000,
        amount_due=42_000,
    )
    db.add(invoice)
    db.commit()
    return invoice


@dataclass
class Recorded:
    """What duely's worker sent to the ledger and what it heard back."""

    requests: list[httpx.Request] = field(default_factory=list)
    responses: list[httpx.Response] = field(default_factory=list)


@contextlib.asynccontextmanager
async def recording_worker(client: Client, settings: Settings) -> AsyncIterator[Recorded]:
    """duely's worker in this process, on its own loop (tests/own_loop.py), its ledger calls
    recorded; the dev server forgets the test's schedules and runs when it stops."""
    recorded = Recorded()

    async def request_sent(request: httpx.Request) -> None:
        recorded.requests.append(request)

    async def response_heard(response: httpx.Response) -> None:
        recorded.responses.append(response)

    hooks = {"request": [request_sent], "response": [response_heard]}

    def worker() -> contextlib.AbstractAsyncContextManager[None]:
        return duely_worker(settings, httpx.AsyncClient(timeout=30, event_hooks=hooks))

    async with on_own_loop(worker):
        yield recorded
    await forget_this_tests_workflows(client)


async def forget_this_tests_workflows(client) -> None:
    """The dev server outlives the test: drop its schedules and end its runs, so that the next
    test's connection 1 starts clean instead of queueing behind a run with no worker."""
    async for schedule in await client.list_schedules():
        await client.get_schedule_handle(schedule.id).delete()
    async for execution in client.list_workflows('ExecutionStatus="Running"'):
        try:
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate()
        except RPCError as error:  # it ended after the (eventually consistent) list was read
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
