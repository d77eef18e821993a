"""A card payment from Stripe's webhook to the Xero ledger: signed `payment_intent.succeeded`
events POSTed to duely's web app on a real socket, each invoice's chase workflow placing the
payment on a real worker (3 Xero calls a round, shared by the payments that arrive together),
beside a bare Temporal signal-to-activity round trip on the same dev server in the same run.
The sandbox keeps Xero's rate limits on.

Latency is taken with payments paced under Xero's limit, every other one for an invoice whose
chase is running (the figure: a signal to a running workflow, as the baseline's) and the rest
for invoices not being chased (each payment starts a chase); each chase's history says where
the time went, hop by hop. A storm (every payment at once) is reported separately, as total
time and throughput (DESIGN section 6). Each Xero tenant has its own budget of 60 calls a
minute, so the payments are spread over several organisations, each with its own tenant: one
tenant alone would take 11 minutes for 200 payments.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench import wire
from bench.results import Figure, Scale
from bench.setup import bench_settings, bench_xero, dev_server, stop_process
from duely.accounts.organisations import ensure_organisation
from duely.chase.control import tell_chase
from duely.chase.state import ChaseState
from duely.core.db import Database, make_sync_engine
from duely.core.security import SecretBox
from duely.core.temporal.names import chase_workflow_id
from duely.ledgers.sync_schedule import request_sync
from duely.migrate import upgrade
from duely.models import (
    ChaseMode,
    Customer,
    Invoice,
    Organisation,
    Payment,
    PaymentStatus,
    ScheduleStep,
    SyncRun,
    SyncStatus,
)
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from duely.settings import Settings
from tests.serving import free_port, serve, shut
from tests.stripe_webhooks import body_of, payment_succeeded, signature_header
from tests.worker_processes import worker_env, worker_process
from tests.xero.conftest import connect_directly


@dataclass(frozen=True)
class Size:
    payments: int
    tenants: int
    invoices_per_tenant: int  # about 30% are open sales invoices: half paced, half the storm


FULL = Size(payments=200, tenants=10, invoices_per_tenant=200)
SMALL = Size(payments=10, tenants=5, invoices_per_tenant=60)
"""make test runs it: more tenants pace the payments closer together (0.8 s apart)."""
CALLS_PER_ROUND = 3  # re-read the invoices, look up the references, PUT the payments
"""A lone payment is a round of one; payments that arrive together share a round."""
PAYMENTS_PER_TENANT_MINUTE = 15
"""45 of a tenant's 60 Xero calls a minute (duely itself keeps to 55): under the limit."""


def webhook_secret(organisation_id: int) -> str:
    """Each organisation's own Stripe signing secret (one shared by all would make every
    event look signed by the first of them)."""
    return f"whsec_duely_bench_{organisation_id}"


WAIT_SECONDS = 300
CHASES_START_SECONDS = 60
FIRST_REMINDER_DAYS = 3650
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDELIVERIES = 3
REDELIVERY_IN_FLIGHT = 4


@dataclass
class Payable:
    organisation_id: int
    invoice_id: int
    customer_id: int
    amount: int
    currency: str


@dataclass
class Sent:
    payable: Payable
    payment_id: str
    body: bytes
    at: float = 0.0
    """Wall-clock time the POST was sent (compared with the row's updated_at)."""
    answered: float = 0.0
    status: int = 0
    """The webhook's answer (0: no answer)."""


# --- the bare baseline ------------------------------------------------------------------------


class Touch:
    """The baseline's activity: notes when it ran, for the client to see at once."""

    def __init__(self) -> None:
        self.ran: dict[int, asyncio.Future] = {}

    @activity.defn(name="bench_touch")
    async def touch(self, n: int) -> None:
        self.ran[n].set_result(time.perf_counter())


@workflow.defn(sandboxed=False)  # a baseline: nothing in it needs the sandbox
class SignalThenActivity:
    def __init__(self) -> None:
        self._waiting: list[int] = []

    @workflow.run
    async def run(self, rounds: int) -> None:
        for _ in range(rounds):
            await workflow.wait_condition(lambda: bool(self._waiting))
            await workflow.execute_activity(
                "bench_touch", self._waiting.pop(0), start_to_close_timeout=timedelta(seconds=30)
            )

    @workflow.signal
    def go(self, n: int) -> None:
        self._waiting.append(n)


async def bare_round_trips(env: WorkflowEnvironment, rounds: int) -> list[float]:
    """handle.signal(...) to the activity having run, one after another."""
    queue = f"bare-{uuid.uuid4().hex}"
    touch = Touch()
    loop = asyncio.get_running_loop()
    seconds = []
    async with Worker(
        env.client, task_queue=queue, workflows=[SignalThenActivity], activities=[touch.touch]
    ):
        handle = await env.client.start_workflow(
            SignalThenActivity.run, rounds, id=f"bare-{queue}", task_queue=queue
        )
        for n in range(rounds):
            touch.ran[n] = loop.create_future()
            started = time.perf_counter()
            await handle.signal(SignalThenActivity.go, n)
            seconds.append(await touch.ran[n] - started)
        await handle.result()
    return seconds


# --- duely ------------------------------------------------------------------------------------


CHASED, NOT_CHASED = "chased", "not chased"


@dataclass
class Paced:
    """One kind of paced payment: each one's latency, and the same time hop by hop."""

    latency: list[float]
    hops: dict[str, list[float]]


@dataclass
class Run:
    paced: dict[str, Paced] = field(default_factory=dict)
    """By kind: CHASED (the figure) and NOT_CHASED."""
    answered: list[float] = field(default_factory=list)
    storm_seconds: float = 0.0
    """From the storm's first POST until its last payment was recorded."""
    storm_recorded: int = 0
    storm_answers: Counter = field(default_factory=Counter)
    """The answers to the storm itself, by HTTP status (0: none)."""
    storm_slowest: float = 0.0
    storm_floor: float = 0.0
    """The slowest answer to as many unsigned POSTs at once (the web app's own floor)."""
    redelivered: int = 0
    redelivered_at: float = 0.0
    """Seconds into the storm when the refused webhooks were delivered again."""
    not_recorded: dict[str, int] = field(default_factory=dict)


def set_up(settings: Settings, tenants: int) -> list[int]:
    """One organisation per tenant: verifies Stripe webhooks with its own secret, books card
    payments to the clearing account (615), chases nothing (the payments are the figure)."""
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    box = SecretBox(settings.resolved_secret_key)
    with Session(engine) as session:
        ids = []
        for n in range(tenants):
            organisation = ensure_organisation(
                session,
                f"Bench Payments {n}",
                chase_mode="off",
                payment_accounts="*=615",
            )
            organisation.stripe_webhook_secret_encrypted = box.encrypt(
                webhook_secret(organisation.id)
            )
            ids.append(organisation.id)
        session.commit()
    engine.dispose()
    return ids


def payables(settings: Settings, tenants: dict[int, object]) -> dict[int, list[Payable]]:
    """Each organisation's open invoices that Xero holds as AUTHORISED, full amount due."""
    engine = make_sync_engine(settings.resolved_database_url)
    by_org: dict[int, list[Payable]] = {org_id: [] for org_id in tenants}
    with Session(engine) as session:
        for invoice in session.exec(
            select(Invoice)
            .where(Invoice.status == "open", Invoice.amount_due > 0)
            .order_by(Invoice.id)
        ):
            tenant = tenants[invoice.organisation_id]
            held = tenant.invoices.get(invoice.external_id)
            if held is None or held.status != "AUTHORISED" or held.amount_due != invoice.amount_due:
                continue
            by_org[invoice.organisation_id].append(
                Payable(
                    invoice.organisation_id,
                    invoice.id,
                    invoice.customer_id,
                    invoice.amount_due,
                    invoice.currency,
                )
            )
    engine.dispose()
    return by_org


def signed(payable: Payable) -> Sent:
    payment_id = f"pi_{uuid.uuid4().hex[:24]}"
    metadata = to_metadata(
        Allocation(
            payable.organisation_id,
            payable.customer_id,
            (Share(payable.invoice_id, payable.amount),),
        )
    )
    event = payment_succeeded(payment_id, payable.amount, payable.currency, metadata)
    return Sent(payable, payment_id, body_of(event))


async def post(web_url: str, sent: Sent) -> None:
    secret = webhook_secret(sent.payable.organisation_id)
    headers = {"stripe-signature": signature_header(sent.body, secret)}
    sent.at = time.time()
    sent.status = await wire.post(f"{web_url}/webhooks/stripe", sent.body, headers)
    sent.answered = time.time() - sent.at


async def recorded(db: Database, sent: list[Sent]) -> tuple[dict[str, float], dict[str, int]]:
    """When each payment's row was marked recorded (its updated_at, wall clock), waiting until
    every one is; what is not recorded by the deadline is counted by status."""
    ids = [s.payment_id for s in sent if 200 <= s.status < 300]
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        async with db.session() as session:
            done = (
                await session.exec(
                    select(func.count()).where(
                        col(Payment.external_id).in_(ids), Payment.status == PaymentStatus.RECORDED
                    )
                )
            ).one()
        if done >= len(ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Payment.external_id, Payment.status, Payment.updated_at).where(
                    col(Payment.external_id).in_(ids)
                )
            )
        ).all()
    when = {pid: at.timestamp() for pid, status, at in rows if status == PaymentStatus.RECORDED}
    others: dict[str, int] = {}
    for _, status, _ in rows:
        if status != PaymentStatus.RECORDED:
            others[status] = others.get(status, 0) + 1
    if missing := len(ids) - len(rows):
        others["no row"] = missing
    if refused := len(sent) - len(ids):
        others["webhook refused"] = refused
    return when, others


async def paced(
    client: Client, web_url: str, db: Database, batch: list[Sent], chased: set[str], gap: float
) -> Run:
    """The batch one after another, `gap` seconds apart; `chased` names the payments for
    invoices whose chase is running."""
    run = Run()
    start = time.monotonic()

    async def send(n: int, sent: Sent) -> None:
        await asyncio.sleep(max(0.0, start + n * gap - time.monotonic()))
        await post(web_url, sent)

    await asyncio.gather(*(send(n, sent) for n, sent in enumerate(batch)))
    when, run.not_recorded = await recorded(db, batch)
    run.answered = [s.answered for s in batch]
    kinds = {
        CHASED: [s for s in batch if s.payment_id in chased],
        NOT_CHASED: [s for s in batch if s.payment_id not in chased],
    }
    for kind, these in kinds.items():
        run.paced[kind] = Paced(
            [when[s.payment_id] - s.at for s in these if s.payment_id in when],
            await hop_times(client, these, when),
        )
    return run


HOPS = ("to chase", "first task", "plan", "to placing", "placing")
"""Where a paced payment's time goes, read from its chase's history; the hops add up to the
latency: the webhook's answer and dispatch until the payment's signal is in the chase's
history; for an invoice not being chased, the new chase's first workflow task until it asks
for its plan, and the plan activity (a running chase has its plan); the workflow task that
asks for the placement and the ledger worker picking it up; the placement activity (3 Xero
calls, its database writes) until the Payment row says recorded."""


async def hops_of(client: Client, sent: Sent, recorded_at: float) -> dict[str, float]:
    """One paid chase's history from the payment's signal on, cut at the events named in
    HOPS (seconds each)."""
    handle = client.get_workflow_handle(
        chase_workflow_id(sent.payable.organisation_id, sent.payable.invoice_id)
    )
    arrived = None
    names: dict[int, str] = {}  # activities by their scheduled event's id
    asked: dict[str, float] = {}  # the first of each activity after the signal
    started: dict[str, float] = {}
    completed: dict[str, float] = {}
    async for event in handle.fetch_history_events():
        at = event.event_time.ToMicroseconds() / 1e6  # since the epoch, as time.time()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = event.workflow_execution_signaled_event_attributes.signal_name
            if signal == "payment_received":
                arrived = arrived or at
        elif arrived is None:
            continue
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            names[event.event_id] = name
            asked.setdefault(name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            name = names[event.activity_task_started_event_attributes.scheduled_event_id]
            started.setdefault(name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name = names[event.activity_task_completed_event_attributes.scheduled_event_id]
            completed.setdefault(name, at)
    if arrived is None or "place_payment" not in started:
        return {}
    hops = {"to chase": arrived - sent.at}
    ready = arrived
    if "plan_chase" in completed:
        hops["first task"] = asked["plan_chase"] - arrived
        hops["plan"] = completed["plan_chase"] - asked["plan_chase"]
        ready = completed["plan_chase"]
    hops["to placing"] = started["place_payment"] - ready
    hops["placing"] = recorded_at - started["place_payment"]
    return hops


async def hop_times(
    client: Client, batch: list[Sent], when: dict[str, float]
) -> dict[str, list[float]]:
    """Each hop's times over the batch's recorded payments."""
    found = await asyncio.gather(
        *(hops_of(client, s, when[s.payment_id]) for s in batch if s.payment_id in when)
    )
    return {hop: [one[hop] for one in found if hop in one] for hop in HOPS}


async def storm_floor(web_url: str, count: int) -> float:
    """The web app's own floor for a storm, in the same process just before it: as many POSTs
    at once that it refuses before any database work (no Stripe-Signature header); the
    slowest answer, in seconds."""

    async def refused() -> float:
        at = time.time()
        await wire.post(f"{web_url}/webhooks/stripe", b"{}", {})
        return time.time() - at

    return max(await asyncio.gather(*(refused() for _ in range(count))))


async def storm(web_url: str, db: Database, batch: list[Sent], run: Run) -> None:
    """Every webhook at once; a refused one is delivered again, as Stripe does, a few at a
    time (Stripe's retries come spread out over hours)."""
    started = time.time()
    await asyncio.gather(*(post(web_url, sent) for sent in batch))
    run.storm_answers = Counter(sent.status for sent in batch)
    run.storm_slowest = max(sent.answered for sent in batch)
    refused = [sent for sent in batch if not 200 <= sent.status < 300]
    run.redelivered_at = time.time() - started
    limit = asyncio.Semaphore(REDELIVERY_IN_FLIGHT)

    async def again(sent: Sent) -> None:
        async with limit:
            await post(web_url, sent)

    for _ in range(REDELIVERIES):
        if not refused:
            break
        run.redelivered += len(refused)
        await asyncio.gather(*(again(sent) for sent in refused))
        refused = [sent for sent in refused if not 200 <= sent.status < 300]
    when, not_recorded = await recorded(db, batch)
    run.storm_seconds = max(when.values(), default=started) - started
    run.storm_recorded = len(when)
    for status, count in not_recorded.items():
        run.not_recorded[f"storm {status}"] = count


async def wait_for_syncs(db: Database, count: int) -> list[SyncRun]:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            async with db.session() as session:
                runs = list(await session.exec(select(SyncRun)))
            finished = [r for r in runs if r.status != SyncStatus.RUNNING]
            if len(finished) >= count:
                return finished
            await asyncio.sleep(0.1)


async def duely_payments(
    env: WorkflowEnvironment,
    xero: XeroSandbox,
    sandbox_url: str,
    home: Path,
    database_url: str,
    size: Size,
) -> tuple[Run, list[float], dict]:
    settings = bench_settings(
        home,
        sandbox_url,
        database_url=database_url,
        temporal_address=env.client.service_client.config.target_host,
        temporal_task_queue=f"bench-{uuid.uuid4().hex}",
    )
    org_ids = set_up(settings, size.tenants)
    tenants = {}
    connections = []
    for n, org_id in enumerate(org_ids):
        tenant = xero.add_tenant(f"Bench Payments {n}", size.invoices_per_tenant, seed=300 + n)
        tenants[org_id] = tenant
        connections.append(await connect_directly(xero, settings, org_id, tenant, "bench"))
    db = Database(settings.resolved_database_url)
    # The production shape: `duely worker` and `duely web` in processes of their own (the
    # worker also redispatches what a slow moment left kept). In this one, beside the sandbox
    # answering the worker and the load generator, the web app's answers would wait on them.
    worker = worker_process(settings, home, home / "worker.log")
    web = None
    try:
        await asyncio.gather(*(request_sync(env.client, settings, c) for c in connections))
        runs = await wait_for_syncs(db, len(connections))
        failed = [r.error for r in runs if r.status != SyncStatus.SUCCEEDED]
        if failed:
            raise RuntimeError(f"sync failed: {failed}")
        by_org = payables(settings, tenants)
        per_tenant = size.payments // size.tenants
        short = {o: len(p) for o, p in by_org.items() if len(p) < 2 * per_tenant}
        if short:
            raise RuntimeError(f"too few open invoices to pay: {short}")
        # Round robin over the tenants, so each tenant's payments are evenly spaced.
        lines = [by_org[o] for o in org_ids]
        tenants_count, payments = size.tenants, size.payments
        latency_batch = [
            signed(lines[n % tenants_count][n // tenants_count]) for n in range(payments)
        ]
        storm_batch = [
            signed(lines[n % tenants_count][per_tenant + n // tenants_count])
            for n in range(payments)
        ]
        # Every other paced payment is for an invoice being chased: a signal to a running
        # chase, as most card payments are (the customer pays from a reminder).
        chased = latency_batch[::2]
        await chase_these(env.client, settings, db, [sent.payable for sent in chased])
        baseline = await bare_round_trips(env, payments)

        web, web_url = start_web(settings, home)
        await answering(web, web_url, home)
        gap = 60 / (PAYMENTS_PER_TENANT_MINUTE * size.tenants)
        chased_ids = {sent.payment_id for sent in chased}
        run = await paced(env.client, web_url, db, latency_batch, chased_ids, gap)
        run.storm_floor = await storm_floor(web_url, len(storm_batch))
        await storm(web_url, db, storm_batch, run)
        return run, baseline, {"gap": gap}
    finally:
        await db.dispose()
        left_running = [await stop_process(worker, home / "worker.log", 120)]
        if web is not None:
            left_running.append(await stop_process(web, home / "web.log", 60))
        if any(left_running):
            raise RuntimeError("\n".join(filter(None, left_running)))


async def chase_these(
    client: Client, settings: Settings, db: Database, invoices: list[Payable]
) -> None:
    """Start these invoices' chases as a sync does for a chased customer's open invoice (the
    organisations chase the customers switched on: these invoices' customers), on a schedule
    whose first reminder is years away (the payments are the figure, not the reminders), and
    wait until every one has planned and sleeps."""
    ids = [p.invoice_id for p in invoices]
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine, expire_on_commit=False) as session:
        for organisation in session.exec(select(Organisation)):
            organisation.chase_mode = ChaseMode.SELECTED
        customers = {p.customer_id for p in invoices}
        for customer in session.exec(select(Customer).where(col(Customer.id).in_(customers))):
            customer.chasing_enabled = True
        for step in session.exec(select(ScheduleStep)):
            step.offset_days = FIRST_REMINDER_DAYS
            step.repeat_every_days = step.repeat_max_times = None
        rows = list(session.exec(select(Invoice).where(col(Invoice.id).in_(ids))))
        session.commit()
    engine.dispose()
    limit = asyncio.Semaphore(20)

    async def start(invoice: Invoice) -> None:
        async with limit:
            await tell_chase(client, settings.temporal_task_queue, invoice)

    await asyncio.gather(*(start(invoice) for invoice in rows))
    deadline = time.monotonic() + CHASES_START_SECONDS
    while True:
        async with db.session() as session:
            states = Counter(
                await session.exec(select(Invoice.chase_state).where(col(Invoice.id).in_(ids)))
            )
        if states[ChaseState.SCHEDULED] == len(ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the chases did not all plan and sleep: {dict(states)}")
        await asyncio.sleep(0.2)


def start_web(settings: Settings, home: Path) -> tuple[subprocess.Popen, str]:
    """`duely web` on a free loopback port, configured like the worker."""
    port = free_port()
    with (home / "web.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "duely", "web"],
            env=worker_env(settings, home, web_port=port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return process, f"http://127.0.0.1:{port}"


async def answering(process: subprocess.Popen, url: str, home: Path) -> None:
    """Until the web process answers (a minute at most)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                await http.get(f"{url}/healthz")
                return
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"duely web did not start: see {home / 'web.log'}") from None
                await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def slow_tail(latency: list[float]) -> str:
    """The payments that took over a second, if any: a tail the p95 alone would hide."""
    slow = sorted((s for s in latency if s > 1), reverse=True)
    if not slow:
        return ""
    shown = ", ".join(f"{s:.1f}" for s in slow[:10])
    return f"; {len(slow)} took over 1 s ({shown}{', ...' if len(slow) > 10 else ''} s)"


def hop_line(hops: dict[str, list[float]]) -> str:
    """The hops' p50s, in order (they add up to about the latency's p50)."""
    if not any(hops.values()):
        return "; hops: no history read"
    p50s = ", ".join(
        f"{hop} {percentile(times, 0.5) * 1000:.1f}" for hop, times in hops.items() if times
    )
    return f"; p50 by hop (ms, from the chases' histories): {p50s}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


@contextmanager
def databases() -> Iterator[list[tuple[str, str]]]:
    """(name, URL): SQLite in a temporary folder, and a fresh PostgreSQL database when a
    server answers on 127.0.0.1:5432 (as `make test` finds one)."""
    with tempfile.TemporaryDirectory() as folder:
        found = [("SQLite", f"sqlite:///{folder}/bench.db")]
        name = f"duely_bench_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=2) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            found.append(("PostgreSQL", POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"))
        except psycopg.OperationalError:
            name = ""
        try:
            yield found
        finally:
            if name:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(scale: Scale) -> list[Figure]:
    size = SMALL if scale.small else FULL
    figures: list[Figure] = []
    with databases() as found, tempfile.TemporaryDirectory() as home:
        for database, url in found:
            # A dev server per database: ids restart with each database, and a chase of the
            # same id left running by the run before (on its own task queue, its worker gone)
            # would take this run's payment signal and never place it.
            env = await dev_server()
            try:
                figures += await measure_on(env, database, url, Path(home), size)
            finally:
                await env.shutdown()
    return figures


async def measure_on(
    env: WorkflowEnvironment, database: str, database_url: str, home: Path, size: Size
) -> list[Figure]:
    xero = bench_xero()
    sandbox = await serve(create_sandbox_app(xero))
    try:
        run, baseline, extra = await duely_payments(
            env, xero, f"{sandbox.url}/xero", home, database_url, size
        )
    finally:
        await shut(sandbox)
    limits = xero.limiter.limits
    paced_calls = Settings().xero_calls_per_minute
    one_by_one = size.tenants * paced_calls / CALLS_PER_ROUND
    chased, not_chased = run.paced[CHASED], run.paced[NOT_CHASED]
    p50, p95 = percentile(chased.latency, 0.5), percentile(chased.latency, 0.95)
    b50, b95 = percentile(baseline, 0.5), percentile(baseline, 0.95)
    answers = ", ".join(
        f"{count} answered {status or 'nothing'}" for status, count in run.storm_answers.items()
    )
    suffix = "" if database == "SQLite" else f"_{database.lower()}"
    trouble = (
        f"; calls refused by the sandbox {dict(xero.limiter.refused)}"
        if xero.limiter.refused
        else ""
    ) + (
        # Said, not raised: a payment that did not land in time is this figure's finding.
        f"; NOT recorded within {WAIT_SECONDS} s: {run.not_recorded}" if run.not_recorded else ""
    )
    paced = Figure(
        f"webhook_to_ledger{suffix}",
        p95 * 1000,
        "ms",
        baseline=b95 * 1000,
        note=(
            f"{database}: p95 of {len(chased.latency)} card payments for invoices being chased "
            f"(a signal to a running chase, as the baseline's), among {size.payments} paced "
            f"under Xero's limit over {size.tenants} tenants (sandbox limits ON: "
            f"{limits.per_minute}/min, {limits.concurrent} in flight; duely keeps to "
            f"{paced_calls}/min), webhook POST to the Payment row recorded after Xero took it; "
            f"p50 {ms(p50)} (bare {ms(b50)}); baseline: a bare signal -> no-op activity round "
            f"trip; goal <= 1.5x; webhooks answered in {ms(percentile(run.answered, 0.5))} p50"
            + slow_tail(chased.latency)
            + hop_line(chased.hops)
            + f"; the other {len(not_chased.latency)}, for invoices not being chased (each "
            f"starts a chase, which reads its plan first): p50 "
            f"{ms(percentile(not_chased.latency, 0.5))}, p95 "
            f"{ms(percentile(not_chased.latency, 0.95))}"
            + slow_tail(not_chased.latency)
            + hop_line(not_chased.hops)
            + trouble
        ),
    )
    storm = Figure(
        f"webhook_storm{suffix}",
        run.storm_slowest * 1000,
        "ms",
        baseline=run.storm_floor * 1000,
        note=(
            f"{database}: {size.payments} webhooks at once, the slowest answer ({answers}; "
            f"goal < 1 s); baseline: as many unsigned POSTs at once, refused before any "
            f"database work by the same web process just before; each POST on a connection "
            f"of its own (bench/wire.py); all {run.storm_recorded} recorded in Xero "
            f"{run.storm_seconds:.1f} s after the first POST "
            f"({run.storm_recorded / run.storm_seconds * 60:.0f}/min; "
            f"bound by Xero's {paced_calls} calls a minute per tenant: one payment a round would "
            f"allow {one_by_one:.0f}/min); duely's worker in a process of its own"
            + (f"; {run.redelivered} redelivered" if run.redelivered else "")
            + trouble
        ),
    )
    return [paced, storm]
