"""The chase harness: InvoiceChaseWorkflow and CustomerOutboxWorkflow on Temporal's
time-skipping test server, with the real activities, the real database and a real SMTP server
(aiosmtpd). Weeks of a schedule pass in seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from duely.chase import control as chase_control
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Contact, Customer, Invoice, Message, Organisation
from duely.sandbox import create_sandbox_app
from duely.sandbox.twilio import TwilioSandbox
from duely.worker import build_worker
from tests.conftest import MailCatcher, start_time_skipping
from tests.factories import add_customer
from tests.serving import serve, shut

LONDON = ZoneInfo("Europe/London")
# Due on Monday 15 March 2027. The Standard schedule then crosses the UK's change to summer
# time (Sunday 28 March) and England's Easter Monday (29 March), where +14 days lands.
DUE = date(2027, 3, 15)


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    mail: MailCatcher
    db: Session
    twilio: TwilioSandbox

    async def start(self, invoice: Invoice) -> None:
        await chase_control.tell_chase(self.client, self.task_queue, invoice)

    async def skip_to(self, moment: datetime) -> None:
        """Let the test server's clock run to `moment` (timers fire on the way)."""
        now = await self.env.get_current_time()
        if moment > now:
            await self.env.sleep(moment - now)

    async def outcome(self, handle: WorkflowHandle) -> str:
        """The result of a workflow that has finished. (Waiting on `result()` while the test
        server skips time sometimes answers "no completion event"; describe first.)"""
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        return await handle.result()

    def messages(self, customer: Customer) -> list[Message]:
        self.db.expire_all()
        query = select(Message).where(Message.customer_id == customer.id).order_by(Message.id)
        return list(self.db.exec(query))


@asynccontextmanager
async def running_harness(settings, db, smtp_server, **worker_options) -> AsyncIterator[Harness]:
    """The harness, its worker built with `worker_options` (an interceptor, say)."""
    catcher, smtp_url = smtp_server
    twilio = TwilioSandbox(delivery_delay=0.01)
    served_twilio = await serve(create_sandbox_app(twilio=twilio))
    queue = f"chase-{uuid.uuid4()}"
    settings = settings.model_copy(
        update={
            "smtp_url": smtp_url,
            "temporal_task_queue": queue,
            "twilio_api_url": f"{served_twilio.url}/twilio",
        }
    )
    database = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, database)
    env = await start_time_skipping()  # its own clock: these tests travel to fixed dates
    try:
        async with build_worker(env.client, settings, database, ledgers, **worker_options):
            yield Harness(env, env.client, queue, catcher, db, twilio)
    finally:
        await env.shutdown()
        await ledgers.aclose()
        await database.dispose()
        await shut(served_twilio)


@pytest_asyncio.fixture
async def harness(settings, db, smtp_server) -> AsyncIterator[Harness]:
    async with running_harness(settings, db, smtp_server) as running:
        yield running


def english_org(db: Session, org_id: int) -> Organisation:
    organisation = db.get(Organisation, org_id)
    organisation.timezone, organisation.country, organisation.subdivision = (
        "Europe/London",
        "GB",
        "ENG",
    )
    db.commit()
    return organisation


def customer_with_contact(db: Session, org_id: int, name: str, **fields) -> Customer:
    customer = add_customer(db, org_id, f"{name}-{uuid.uuid4().hex[:6]}", **fields)
    db.add(
        Contact(
            organisation_id=org_id,
            customer_id=customer.id,
            first_name="Sam",
            last_name="Okafor",
            email=f"sam@{name}.test",
        )
    )
    db.commit()
    return customer


def local(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)


def at_london(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)
