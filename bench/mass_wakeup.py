"""The 09:00 burst: 1,000 invoices of 1,000 customers whose reminder falls due the minute the
send window opens, chased by a real worker against the Xero sandbox (rate limits on), each
reminder delivered to a real SMTP server (aiosmtpd). The figure is the time from the window
opening to the last reminder taken by the mail server; the note says whether each went exactly
once and how many Xero calls the burst cost (the re-read before sending is one sync per
connection per send window, not a read per customer: duely.ledgers.freshness).

There is no bare baseline for "a thousand personal reminders": the note gives the engine's own
rate (bench/engine_rate.py) to read it against.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import func
from sqlmodel import Session, col, select

from bench.results import Figure, Scale
from bench.setup import bench_settings, bench_xero, dev_server
from duely.accounts.organisations import ensure_organisation
from duely.core.db import Database, make_sync_engine
from duely.core.temporal import names
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.sync_schedule import request_sync
from duely.migrate import upgrade
from duely.models import Invoice, SyncRun, SyncStatus
from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.ledger import Ledger
from duely.worker import build_worker
from tests.conftest import MailCatcher
from tests.serving import free_port, serve, shut
from tests.xero.conftest import connect_directly

GATHER_SECONDS = 5
"""The outbox's gathering of a customer's invoices (60 s in production): shortened, and said."""
WAIT_SECONDS = 900


def chosen_invoices(xero: XeroSandbox, tenant: Ledger, customers: int) -> list[str]:
    """One open sales invoice for each of `customers` customers who have an email address, due
    today; every other sales invoice due in two months (nothing else falls due)."""
    today = xero.clock.today()
    contacts = tenant.contacts
    chosen: dict[str, str] = {}
    for invoice in tenant.invoices.values():
        if invoice.kind != "ACCREC":
            continue
        contact = contacts.get(invoice.contact_id)
        wanted = (
            invoice.status == "AUTHORISED"
            and invoice.amount_due > 0
            and contact is not None
            and contact.email
            and invoice.contact_id not in chosen
            and len(chosen) < customers
        )
        if wanted:
            chosen[invoice.contact_id] = invoice.invoice_id
        due = today if wanted else today + timedelta(days=60)
        xero.store.update_invoice(tenant.tenant_id, invoice.invoice_id, {"due_date": due})
    return list(chosen.values())


def window_opening(lead_seconds: int) -> datetime:
    """The first whole minute at least `lead_seconds` from now (UTC): a send window opens on
    the minute (the engine reads it to the minute)."""
    at = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def measure(scale: Scale) -> list[Figure]:
    customers = scale.pick(1000, 40)
    lead = scale.pick(420, 30)  # seconds to sync and plan every chase before the window opens
    xero = bench_xero()
    # Twice the contacts, eight invoices each: about half have an email address and an open
    # sales invoice, so the burst has its `customers` (with as many contacts as customers,
    # only 517 of 1,000 qualified).
    tenant = xero.add_tenant("Bench Wake-up", 8 * customers, seed=77, customers=2 * customers)
    targets = chosen_invoices(xero, tenant, customers)
    numbers = {tenant.invoices[i].number for i in targets}
    catcher = MailCatcher()
    smtp = Controller(catcher, hostname="127.0.0.1", port=free_port())
    smtp.start()
    sandbox = await serve(create_sandbox_app(xero))
    env = await dev_server()
    try:
        with tempfile.TemporaryDirectory() as home:
            return await _measure(
                env, xero, tenant, f"{sandbox.url}/xero", Path(home), smtp, catcher, numbers, lead
            )
    finally:
        await env.shutdown()
        await shut(sandbox)
        smtp.stop()


async def _measure(env, xero, tenant, sandbox_url, home, smtp, catcher, numbers, lead):
    opens = window_opening(lead)
    settings = bench_settings(
        home,
        sandbox_url,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        outbox_gather_seconds=GATHER_SECONDS,
        temporal_address=env.client.service_client.config.target_host,
        temporal_task_queue=f"bench-{uuid.uuid4().hex}",
    )
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine) as session:
        organisation = ensure_organisation(
            session,
            "Bench Wake-up Ltd",
            country="ZZ",  # no public holidays
            timezone="UTC",
            send_days="1234567",
            send_window_start=opens.time(),
            send_window_end=min(
                (opens + timedelta(hours=6)).time() if opens.hour < 18 else wall_time(23, 59),
                wall_time(23, 59),
            ),
        )
        session.commit()
        org_id = organisation.id
    engine.dispose()
    connection = await connect_directly(xero, settings, org_id, tenant, "bench")
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    calls: Counter[str] = Counter()
    plan = xero.faults.plan

    def counting(method: str, path: str, tenant_id: str | None):
        if datetime.now(UTC) >= opens and "/api.xro/" in path:
            calls[f"{method} {path.rsplit('/', 1)[-1]}"] += 1
        return plan(method, path, tenant_id)

    xero.faults.plan = counting
    try:
        async with build_worker(env.client, settings, db, ledgers):
            await request_sync(env.client, settings, connection)
            await _until(lambda: _synced(db), "the first sync never finished")
            await _until(lambda: _chases_planned(db), "the chases never all planned")
            chosen = await _chosen_rows(db, numbers)
            before = await _history_events(env.client, org_id, chosen, outboxes=False)
            ready = datetime.now(UTC)
            if ready >= opens:
                raise RuntimeError(
                    f"set-up ran {(ready - opens).total_seconds():.0f} s past the window's "
                    "opening: give it a longer lead"
                )
            await _until(
                lambda: _all_delivered(catcher, numbers),
                "not every reminder reached the mail server",
                seconds=(opens - datetime.now(UTC)).total_seconds() + WAIT_SECONDS,
            )
            await asyncio.sleep(GATHER_SECONDS + 2)  # anything sent twice would show now
            chases_after = await _history_events(env.client, org_id, chosen, outboxes=False)
            outboxes = await _history_events(env.client, org_id, chosen, outboxes=True)
            async with db.session() as session:
                syncs = (
                    await session.exec(
                        select(func.count()).where(
                            SyncRun.connection_id == connection.id, SyncRun.started_at >= opens
                        )
                    )
                ).one()
    finally:
        xero.faults.plan = plan
        await ledgers.aclose()
        await db.dispose()
    mentions = Counter(number for r in catcher.received for number in named_in(r, numbers))
    last = max(r.at for r in catcher.received)
    twice = sum(1 for n in numbers if mentions[n] > 1)
    others = sum(1 for r in catcher.received if not named_in(r, numbers))
    burst = (last - opens).total_seconds()
    per_reminder = (chases_after - before + outboxes) / len(chosen)
    exact = "each exactly once" if not twice and not others else f"{twice} twice, {others} others"
    return [
        Figure(
            "mass_wakeup",
            burst,
            "s",
            note=(
                f"{len(numbers):,} customers' reminders due the minute the send window opened, "
                f"delivered to aiosmtpd {exact}; Xero calls during the burst: "
                f"{sum(calls.values())} ({dict(calls) or 'none'}) in {syncs} sync(s) (one read "
                f"per customer would be {len(numbers):,}); outbox gathering {GATHER_SECONDS} s "
                f"(60 s in production); goal < 60 s: {'met' if burst < 60 else 'not met'}"
            ),
        ),
        Figure(
            "history_events_per_reminder",
            per_reminder,
            "events",
            note=(
                "history events the burst added per reminder: the chase waking, handing its "
                "step over and hearing the outcome, plus its customer's outbox run (one "
                "invoice per customer here); the README's path to 100,000 chases reads it "
                "against engine_rate"
            ),
        ),
    ]


async def _chosen_rows(db: Database, numbers: set[str]) -> list[tuple[int, int]]:
    """(invoice id, customer id) of the chosen invoices."""
    async with db.session() as session:
        rows = await session.exec(
            select(Invoice.id, Invoice.customer_id).where(col(Invoice.number).in_(numbers))
        )
        return [(invoice_id, customer_id) for invoice_id, customer_id in rows]


async def _history_events(client, org_id: int, chosen, outboxes: bool) -> int:
    """The history length of the chosen invoices' chases (or their customers' outboxes),
    summed; a run that continued as new counts from its latest run."""
    ids = [
        names.outbox_workflow_id(org_id, customer_id)
        if outboxes
        else names.chase_workflow_id(org_id, invoice_id)
        for invoice_id, customer_id in chosen
    ]
    limit = asyncio.Semaphore(16)

    async def length(workflow_id: str) -> int:
        async with limit:
            return (await client.get_workflow_handle(workflow_id).describe()).history_length

    return sum(await asyncio.gather(*(length(i) for i in ids)))


async def _until(check, said: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{said} (waited {seconds:.0f} s)")
        await asyncio.sleep(0.5)


async def _synced(db: Database) -> bool:
    async with db.session() as session:
        run = (await session.exec(select(SyncRun))).first()
    if run is not None and run.status == SyncStatus.FAILED:
        raise RuntimeError(f"the sync failed: {run.error}")
    return run is not None and run.status == SyncStatus.SUCCEEDED


async def _chases_planned(db: Database) -> bool:
    async with db.session() as session:
        waiting = (
            await session.exec(
                select(func.count()).where(
                    Invoice.status == "open", Invoice.amount_due > 0, col(Invoice.chase_state) == ""
                )
            )
        ).one()
    return waiting == 0


INVOICE_NUMBER = re.compile(r"INV-\d+")


def named_in(received, numbers: set[str]) -> set[str]:
    """The chosen invoices a message names (each once, however often it names them)."""
    return set(INVOICE_NUMBER.findall(received.message.get_content())) & numbers


async def _all_delivered(catcher: MailCatcher, numbers: set[str]) -> bool:
    named = set().union(*(named_in(r, numbers) for r in list(catcher.received)))
    return named == numbers
