"""Record histories that tests/replay/test_replay.py replays, forever.

    .venv/bin/python -m tests.replay.record <scenario> [<scenario> ...]

Each scenario runs real chases on the time-skipping server (SQLite, aiosmtpd, the real
activities) and writes each workflow's history as JSON beside this file, named
`<scenario>-<what>.json`, and appends its digest to HISTORIES.sha256. Histories are
append-only: this refuses to overwrite one, and the replay test fails if a listed history is
edited, removed, or no longer replays. A workflow change records a NEW scenario, recorded by
the code that introduced it; the old histories stay and must keep replaying.

The three histories without a scenario prefix (chase_walked, chase_paused_paid, outbox) were
recorded before the trusted-engine patches (commit e0c09dc) and stand for every chase that was
running when those patches deployed.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from duely.accounts.organisations import seed_demo
from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseStart, PaymentNotice
from duely.core.db import Database, make_sync_engine
from duely.core.temporal import names
from duely.demo import import_demo_spreadsheets
from duely.integrations.ledgers.connections import Ledgers
from duely.migrate import upgrade
from duely.models import Invoice, Organisation, SpreadsheetImport, SyncRun, SyncStatus
from duely.settings import Settings
from duely.worker import build_worker
from duely.workflows.chase import InvoiceChaseWorkflow
from duely.workflows.statements import StatementRunWorkflow
from tests.chase.conftest import DUE, at_london, customer_with_contact
from tests.chase.late_payment import PaymentWhileEnding
from tests.conftest import MailCatcher, make_org, start_dev_server, start_time_skipping
from tests.factories import add_invoice
from tests.serving import free_port

HERE = Path(__file__).parent
MANIFEST = HERE / "HISTORIES.sha256"
SECRET_KEY = "replay-recording-secret-key"
"""Recordings encrypt their payloads as duely does, with this key; test_replay.py replays them
with it. Histories recorded before the payload codec are plain and replay as they are."""


@dataclass
class Recording:
    scenario: str
    env: WorkflowEnvironment
    settings: Settings
    db: Session
    org_id: int
    late: PaymentWhileEnding
    """Delivers a payment while a chase writes its last note, when asked (paid_while_ending)."""

    @property
    def client(self) -> Client:
        return self.env.client

    async def start(self, invoice: Invoice) -> None:
        await chase_control.tell_chase(self.client, self.settings.temporal_task_queue, invoice)

    async def until(self, moment: datetime) -> None:
        now = await self.env.get_current_time()
        if moment > now:
            await self.env.sleep(moment - now)

    async def act(self, invoice: Invoice, action: Action, **fields) -> None:
        await chase_control.act(self.client, invoice, action, by="recorder", **fields)

    def chase_id(self, invoice: Invoice) -> str:
        return names.chase_workflow_id(self.org_id, invoice.id)

    async def write(self, workflow_id: str, what: str, run_id: str | None = None) -> None:
        name = f"{self.scenario}-{what}.json"
        path = HERE / name
        if path.exists():
            raise SystemExit(f"{name} exists: histories are append-only; record a new scenario")
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        history = await handle.fetch_history()
        text = history.to_json()
        path.write_text(text)
        with MANIFEST.open("a") as manifest:
            manifest.write(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n")
        print(f"wrote {name}: {len(history.events)} events")


ON_THE_DEV_SERVER = {"syncs_on_the_chase_queue", "syncs_on_the_sync_queue"}
"""Scenarios whose syncs a Temporal schedule starts: the time-skipping server has none."""


@asynccontextmanager
async def recording(scenario: str) -> AsyncIterator[Recording]:
    home = Path(tempfile.mkdtemp())
    url = f"sqlite:///{home / 'record.db'}"
    upgrade(url)
    port = free_port()
    smtp = Controller(MailCatcher(), hostname="127.0.0.1", port=port)
    smtp.start()
    if scenario in ON_THE_DEV_SERVER:
        env = await start_dev_server(SECRET_KEY)
    else:
        env = await start_time_skipping(SECRET_KEY)
    settings = Settings(
        home=home,
        database_url=url,
        secret_key=SECRET_KEY,
        smtp_url=f"smtp://127.0.0.1:{port}",
        temporal_address=env.client.service_client.config.target_host,
        temporal_task_queue=f"record-{uuid.uuid4().hex[:8]}",
    )
    late = PaymentWhileEnding()
    late.client = env.client
    database = Database(url)
    ledgers = Ledgers(settings, database)
    try:
        with Session(make_sync_engine(url), expire_on_commit=False) as db:
            org = make_org(db, "replay")
            organisation = db.get(Organisation, org.id)
            organisation.subdivision = "ENG"
            db.commit()
            async with build_worker(env.client, settings, database, ledgers, interceptors=[late]):
                yield Recording(scenario, env, settings, db, org.id, late)
    finally:
        await env.shutdown()
        await ledgers.aclose()
        await database.dispose()
        smtp.stop()


async def trusted_engine(r: Recording) -> None:
    """Every path of the chase and the outbox after the trusted-engine patches: a walk to the
    end, pause while queued and resume, send-now on a queued request, escalate, dispute and
    resolve, resume over the ledger's date then a promise that lapses, stop, a part and a full
    payment the ledger already holds, the outbox's window wait and its wake for a send-now,
    and a statement run."""
    db, org_id = r.db, r.org_id
    walker = customer_with_contact(db, org_id, "walker")
    walked = add_invoice(db, walker, "INV-W", 0, amount=90_000, due_date=DUE)
    queued = customer_with_contact(db, org_id, "queued")
    first = add_invoice(db, queued, "INV-Q1", 0, due_date=DUE)
    paused = add_invoice(db, queued, "INV-Q2", 0, due_date=DUE)
    hurried = add_invoice(db, queued, "INV-Q3", 0, due_date=DUE)
    instructed = customer_with_contact(db, org_id, "instructed")
    escalated = add_invoice(db, instructed, "INV-E", 0, due_date=DUE)
    disputed = add_invoice(db, instructed, "INV-D", 0, due_date=DUE)
    promised = add_invoice(
        db, instructed, "INV-PR", 0, due_date=DUE, expected_payment_date=date(2027, 3, 20)
    )
    stopped = add_invoice(db, instructed, "INV-ST", 0, due_date=DUE)
    paid = add_invoice(db, instructed, "INV-PAID", 0, amount=40_000, due_date=DUE)
    for invoice in (walked, first, escalated, disputed, promised, stopped, paid):
        await r.start(invoice)

    await r.until(at_london(date(2027, 3, 1), 10))
    await r.act(escalated, Action.ESCALATE)
    await r.act(disputed, Action.DISPUTE, reason="wrong quantity")
    await r.until(at_london(date(2027, 3, 12), 12))  # Friday: INV-Q1's reminder went out
    for invoice in (paused, hurried):  # their own steps are due: capped, they wait for Monday
        await r.start(invoice)
    await r.until(at_london(date(2027, 3, 13), 10))
    outbox = r.client.get_workflow_handle(names.outbox_workflow_id(org_id, queued.id))
    waiting_outbox = (await outbox.describe()).run_id
    await r.act(paused, Action.PAUSE, until="2027-03-20")
    await r.act(hurried, Action.SEND_NOW)
    await r.act(promised, Action.RESUME)
    await r.until(at_london(date(2027, 3, 16), 12))
    await r.act(paused, Action.RESUME)
    await r.act(disputed, Action.RESOLVE_DISPUTE)
    await r.act(stopped, Action.STOP, reason="sent to collections")
    await r.act(promised, Action.PROMISE, until="2027-03-26")  # then lapses unpaid
    await pay(r, paid, 15_000)
    await r.until(at_london(date(2027, 3, 25), 12))
    await pay(r, paid, 25_000)
    await r.until(at_london(date(2027, 4, 22), 12))
    await r.client.execute_workflow(
        StatementRunWorkflow.run,
        args=[org_id, "Europe/London"],
        id="statements-replay",
        task_queue=r.settings.temporal_task_queue,
    )

    await r.write(r.chase_id(walked), "walked")
    await r.write(r.chase_id(paused), "paused_while_queued")
    await r.write(r.chase_id(hurried), "send_now_while_queued")
    await r.write(names.outbox_workflow_id(org_id, queued.id), "outbox_waiting", waiting_outbox)
    await r.write(r.chase_id(escalated), "escalated")
    await r.write(r.chase_id(disputed), "disputed_resolved")
    await r.write(r.chase_id(promised), "resumed_then_promise_lapsed")
    await r.write(r.chase_id(stopped), "stopped")
    await r.write(r.chase_id(paid), "part_and_full_payment")
    await r.write("statements-replay", "statements")


async def pay(r: Recording, invoice: Invoice, amount: int) -> None:
    """A payment the ledger holds, as a sync tells it: the mirror first, then the chase."""
    invoice = r.db.get(Invoice, invoice.id)
    invoice.amount_due -= amount
    if invoice.amount_due <= 0:
        invoice.status = "paid"
    r.db.commit()
    handle = r.client.get_workflow_handle(r.chase_id(invoice))
    await handle.signal("payment_received", {"amount": amount, "currency": invoice.currency})


async def payments_and_silence(r: Recording) -> None:
    """Card payments placed by the chase (an invoice without a ledger: recorded in duely): a
    full one, a part then the rest, one payment covering two invoices; and a chase whose
    outbox never answers (it was terminated), which moves on after its patience runs out."""
    db, org_id = r.db, r.org_id
    payer = customer_with_contact(db, org_id, "payer")
    full = add_invoice(db, payer, "INV-FULL", 0, amount=30_000, due_date=DUE)
    part = add_invoice(db, payer, "INV-PART", 0, amount=50_000, due_date=DUE)
    both = [add_invoice(db, payer, f"INV-BOTH{n}", 0, amount=20_000, due_date=DUE) for n in (1, 2)]
    silent_customer = customer_with_contact(db, org_id, "silent")
    silent = add_invoice(db, silent_customer, "INV-SILENT", 0, due_date=DUE)
    for invoice in (full, part, *both, silent):
        await r.start(invoice)

    # The first step is handed to the outbox at 09:00, which gathers for a minute: stop it.
    await r.until(at_london(date(2027, 3, 12), 9, 0) + timedelta(seconds=30))
    outbox = names.outbox_workflow_id(org_id, silent_customer.id)
    await r.client.get_workflow_handle(outbox).terminate("replay: an outbox that never answers")
    await r.until(at_london(date(2027, 3, 16), 12))
    await card(r, "pi_replay_full", [(full, 30_000)])
    await card(r, "pi_replay_part1", [(part, 20_000)])
    await r.until(at_london(date(2027, 3, 20), 12))
    await card(r, "pi_replay_part2", [(part, 30_000)])
    await card(r, "pi_replay_both", [(both[0], 20_000), (both[1], 20_000)])
    await r.until(at_london(date(2027, 4, 22), 12))

    await r.write(r.chase_id(full), "card_full")
    await r.write(r.chase_id(part), "card_part_then_rest")
    await r.write(r.chase_id(both[0]), "card_for_two_invoices_first")
    await r.write(r.chase_id(both[1]), "card_for_two_invoices_second")
    await r.write(r.chase_id(silent), "outbox_never_answers")


async def card(r: Recording, payment_id: str, shares: list[tuple[Invoice, int]]) -> None:
    """A card payment, as the Stripe webhook tells each invoice's chase its share."""
    for invoice, amount in shares:
        now = (await r.env.get_current_time()).isoformat()
        paid = notice(payment_id, amount, invoice.currency, paid_at=now)
        await chase_control.tell_payment(r.client, r.settings.temporal_task_queue, invoice, paid)


def notice(payment_id: str, amount: int, currency: str = "GBP", paid_at: str = "") -> PaymentNotice:
    return PaymentNotice(amount=amount, currency=currency, payment_id=payment_id, paid_at=paid_at)


async def thank_every_payment(r: Recording) -> None:
    """A card payment for part of an invoice is thanked too (patch thank-every-payment), then
    the rest settles it and is thanked again: one thank-you per payment."""
    payer = customer_with_contact(r.db, r.org_id, "parts")
    invoice = add_invoice(r.db, payer, "INV-PARTS", 0, amount=50_000, due_date=DUE)
    await r.start(invoice)
    await r.until(at_london(date(2027, 3, 16), 12))
    await card(r, "pi_replay_first_part", [(invoice, 20_000)])
    await r.until(at_london(date(2027, 3, 20), 12))
    await card(r, "pi_replay_the_rest", [(invoice, 30_000)])
    await r.until(at_london(date(2027, 3, 25), 12))
    await r.write(r.chase_id(invoice), "part_then_rest_both_thanked")


async def continue_as_new(r: Recording) -> None:
    """A chase and an outbox that continue as new (every few dozen events here, by
    ChaseStart.history_limit; after thousands in production): the first runs end in the
    continue-as-new, the next ones start from what was carried. Friday's reminder goes, a
    second invoice waits for Monday in an outbox that continues as new, a pause and a send-now
    cross a chase's continue-as-new."""
    customer = customer_with_contact(r.db, r.org_id, "renewed")
    friday = add_invoice(r.db, customer, "INV-FRI", 0, due_date=DUE)
    monday = add_invoice(r.db, customer, "INV-MON", 0, due_date=DUE)

    async def start(invoice: Invoice) -> str:
        handle = await r.client.start_workflow(
            InvoiceChaseWorkflow.run,
            ChaseStart(r.org_id, invoice.id, customer.id, history_limit=40),
            id=r.chase_id(invoice),
            task_queue=r.settings.temporal_task_queue,
        )
        return handle.first_execution_run_id

    first_chase_run = await start(friday)
    await r.until(at_london(date(2027, 3, 12), 12))
    await start(monday)
    await r.until(at_london(date(2027, 3, 12), 12, 10))
    outbox_id = names.outbox_workflow_id(r.org_id, customer.id)
    first_outbox_run = (await r.client.get_workflow_handle(outbox_id).describe()).run_id
    await r.until(at_london(date(2027, 3, 16), 12))
    await r.act(friday, Action.PAUSE, until="2027-03-30")
    await r.until(at_london(date(2027, 3, 20), 10))
    await r.act(friday, Action.RESUME)
    await r.act(friday, Action.SEND_NOW)
    await r.until(at_london(date(2027, 4, 2), 12))

    await write_runs(r, r.chase_id(friday), first_chase_run, "chase")
    await write_runs(r, outbox_id, first_outbox_run, "outbox")


async def continue_when_answered(r: Recording) -> None:
    """Patch continue-when-answered: a chase whose history is long requests a reminder, waits
    for the outbox's answer, and only then continues as new (it continued straight after
    requesting). Two invoices of one customer walk the Standard schedule's first steps."""
    customer = customer_with_contact(r.db, r.org_id, "answered")
    invoices = [add_invoice(r.db, customer, f"INV-A{n}", 0, due_date=DUE) for n in (1, 2)]
    first_runs = {}
    for invoice in invoices:
        handle = await r.client.start_workflow(
            InvoiceChaseWorkflow.run,
            ChaseStart(r.org_id, invoice.id, customer.id, history_limit=40),
            id=r.chase_id(invoice),
            task_queue=r.settings.temporal_task_queue,
        )
        first_runs[invoice.id] = handle.first_execution_run_id
    outbox_id = names.outbox_workflow_id(r.org_id, customer.id)
    await r.until(at_london(date(2027, 3, 12), 12, 10))
    first_outbox_run = (await r.client.get_workflow_handle(outbox_id).describe()).run_id
    await r.until(at_london(date(2027, 3, 19), 12))
    for n, invoice in enumerate(invoices, 1):
        await write_runs(r, r.chase_id(invoice), first_runs[invoice.id], f"chase_{n}")
    await write_runs(r, outbox_id, first_outbox_run, "outbox", at_least=1)


async def paid_while_ending(r: Recording) -> None:
    """Patch paid-while-ending: a card payment that arrives while a chase writes its last note
    is placed before the chase ends. A chase that only places payments (its invoice was not
    chased) ends after a part payment as the rest arrives; a stopped chase as a payment does."""
    payer = customer_with_contact(r.db, r.org_id, "ending")
    unchased = add_invoice(r.db, payer, "INV-UNCHASED", 0, amount=50_000, due_date=DUE)
    stopped = add_invoice(r.db, payer, "INV-STOPPED", 0, amount=30_000, due_date=DUE)
    await r.start(stopped)
    await r.until(at_london(date(2027, 3, 16), 12))

    r.late.pay_while_ending(r.chase_id(unchased), notice("pi_replay_the_rest", 30_000))
    await card(r, "pi_replay_a_part", [(unchased, 20_000)])
    await r.until(at_london(date(2027, 3, 17), 12))
    r.late.pay_while_ending(r.chase_id(stopped), notice("pi_replay_while_stopping", 30_000))
    await r.act(stopped, Action.STOP)
    await r.until(at_london(date(2027, 3, 18), 12))
    if r.late.delivered != {r.chase_id(unchased), r.chase_id(stopped)}:
        raise SystemExit("a payment was not delivered while its chase ended")
    await r.write(r.chase_id(unchased), "unchased_paid_as_it_ends")
    await r.write(r.chase_id(stopped), "stopped_paid_as_it_ends")


async def spreadsheet_demo(r: Recording) -> None:
    """The spreadsheet demo's two imports, each checked, confirmed and written as `duely up`
    does, and the syncs of its ledger they ask for, the second starting 150 chases."""
    seed_demo(r.settings.resolved_database_url, "demo@replay.local", "replay-password",
              spreadsheet_email="sheets@replay.local")  # fmt: skip
    assert await import_demo_spreadsheets(r.settings)
    invoices = r.db.exec(
        select(SpreadsheetImport).where(SpreadsheetImport.kind == "invoices")
    ).one()

    def synced() -> SyncRun | None:
        r.db.expire_all()
        query = select(SyncRun).where(SyncRun.status == SyncStatus.SUCCEEDED)
        return r.db.exec(query.where(SyncRun.invoices_changed > 0)).first()

    deadline = asyncio.get_running_loop().time() + 120
    while (run := synced()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit("the imported invoices were never synced")
        await asyncio.sleep(0.5)
    imported = names.spreadsheet_import_workflow_id(invoices.organisation_id, invoices.id)
    await r.write(imported, "invoices_import")
    await r.write(run.workflow_id, "sync")


async def write_runs(
    r: Recording, workflow_id: str, run_id: str | None, what: str, at_least: int = 2
) -> None:
    """Every run of a workflow, following its continue-as-new chain from `run_id`."""
    count = 0
    while run_id:
        count += 1
        await r.write(workflow_id, f"{what}_run_{count}", run_id)
        history = await r.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        continued = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = continued.new_execution_run_id
    if count < at_least:
        raise SystemExit(f"{workflow_id} did not continue as new")


SCENARIOS: dict[str, Callable[[Recording], Awaitable[None]]] = {
    "trusted_engine": trusted_engine,
    "payments_and_silence": payments_and_silence,
    "thank_every_payment": thank_every_payment,
    "continue_as_new": continue_as_new,
    "continue_when_answered": continue_when_answered,
    "paid_while_ending": paid_while_ending,
    "syncs_on_the_chase_queue": spreadsheet_demo,
    "syncs_on_the_sync_queue": spreadsheet_demo,  # the same, recorded after they moved there
}


async def main(chosen: list[str]) -> None:
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown or not chosen:
        raise SystemExit(f"usage: python -m tests.replay.record {' | '.join(SCENARIOS)}")
    for scenario in chosen:
        async with recording(scenario) as r:
            await SCENARIOS[scenario](r)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
