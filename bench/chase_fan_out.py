"""Starting the chase of every open invoice at once (what a first sync, or switching chasing
on, does), beside a bare loop starting as many no-op workflows on the same dev server with
the same concurrency, in the same run. Also the bare loops the sync benchmarks compare with
(bench/initial_sync.py): starts, and signals to workflows that wait for them."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.results import Figure, Scale
from bench.setup import (
    bench_settings,
    dev_server,
    seed_open_invoices,
    stop_process,
)
from duely.activities.fan_out import CONCURRENCY
from duely.chase.control import start_all_chases
from duely.core.db import Database
from duely.core.temporal.pollers import pollers
from duely.core.temporal.queues import CHASE, KINDS
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Invoice
from duely.settings import Settings
from duely.worker import build_worker
from tests.worker_processes import worker_process

CUSTOMERS = 500
CHASE_PROCESSES = 2
NOT_MET = (
    "not met: bound by the chases themselves, each planning in the same worker process while "
    "the next start is sent (py-spy --gil, 60 s of a 5,000-chase fan-out: the chases' workflow "
    "tasks 17%, the fan-out's own starts 17%, a sandbox per new chase 16% (annotation strings "
    "resolved afresh, the module unmarshalled), the worker's polling 10%, the plan and note "
    "activities with SQLAlchemy and aiosqlite 20%: no single cost; one Python process)"
)
PLANNED_PATIENCE = 900.0
"""Seconds to wait for every chase to plan and mirror itself before giving up (at 5,000 the
dev server takes minutes: each chase's first workflow tasks and activities)."""


@workflow.defn(sandboxed=False)  # a baseline: nothing in it needs the sandbox
class NoOp:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(sandboxed=False)
class Listening:
    """A baseline for telling a running chase: waits until it has heard one signal."""

    def __init__(self) -> None:
        self._heard = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._heard)

    @workflow.signal
    def hear(self, _facts: dict) -> None:
        self._heard = True


async def bare_starts(env: WorkflowEnvironment, count: int) -> float:
    """Seconds to start `count` no-op workflows, CONCURRENCY in flight, as the fan-out does."""
    queue = f"bare-{uuid.uuid4().hex}"
    limit = asyncio.Semaphore(CONCURRENCY)

    async def start(n: int) -> None:
        async with limit:
            await env.client.start_workflow(NoOp.run, id=f"bare-{queue}-{n}", task_queue=queue)

    async with Worker(env.client, task_queue=queue, workflows=[NoOp]):
        started = time.perf_counter()
        await asyncio.gather(*(start(n) for n in range(count)))
        return time.perf_counter() - started


@asynccontextmanager
async def listening(env: WorkflowEnvironment, count: int) -> AsyncIterator[list[WorkflowHandle]]:
    """`count` running workflows waiting for a signal (started untimed); each ends once it
    has heard it."""
    queue = f"listen-{uuid.uuid4().hex}"
    async with Worker(env.client, task_queue=queue, workflows=[Listening]):
        handles = [
            await env.client.start_workflow(Listening.run, id=f"{queue}-{n}", task_queue=queue)
            for n in range(count)
        ]
        yield handles
        await asyncio.gather(*(handle.result() for handle in handles))


async def bare_signals(handles: list[WorkflowHandle]) -> float:
    """Seconds to signal each workflow once, CONCURRENCY in flight, as the fan-out does."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def tell(handle: WorkflowHandle) -> None:
        async with limit:
            await handle.signal(Listening.hear, {"amount_due": 1})

    started = time.perf_counter()
    await asyncio.gather(*(tell(handle) for handle in handles))
    return time.perf_counter() - started


async def duely_starts(
    env: WorkflowEnvironment, settings: Settings, org_id: int, invoices: int
) -> dict:
    """Seconds until StartChasesWorkflow has started every chase, and until every chase has
    planned and mirrored its state (chase_state "scheduled")."""
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    try:
        async with build_worker(env.client, settings, db, ledgers):
            started = time.perf_counter()
            await start_all_chases(env.client, settings.temporal_task_queue, org_id)
            told = await env.client.get_workflow_handle(f"start-chases-{org_id}").result()
            all_started = time.perf_counter() - started
            settled = await planned(db, invoices, started)
            return {
                "told": told,
                "started": all_started,
                "planned": time.perf_counter() - started,
                "settled": settled,
            }
    finally:
        await ledgers.aclose()
        await db.dispose()


async def planned(db: Database, invoices: int, started: float) -> int:
    """Until every chase has planned and mirrored its state (chase_state "scheduled"), or
    PLANNED_PATIENCE after `started` (perf_counter); how many had."""
    settled = 0
    while settled < invoices and time.perf_counter() - started < PLANNED_PATIENCE:
        await asyncio.sleep(0.2)
        async with db.session() as session:
            settled = (
                await session.exec(select(func.count()).where(Invoice.chase_state == "scheduled"))
            ).one()
    return settled


async def split_workers(
    env: WorkflowEnvironment, settings: Settings, org_id: int, invoices: int
) -> tuple[float, int]:
    """The same fan-out with the worker split as README's worker topology suggests for a busy
    installation: CHASE_PROCESSES `duely worker` processes on the chase queue and one for the
    sync, ledger and delivery queues (DUELY_WORKER_QUEUES). Seconds until every chase has
    planned and mirrored its state, and how many did."""
    home = settings.home
    others = ",".join(kind for kind in KINDS if kind != CHASE)
    queues = [CHASE] * CHASE_PROCESSES + [others]
    workers = [
        worker_process(settings, home, home / f"worker-{n}.log", worker_queues=kinds)
        for n, kinds in enumerate(queues)
    ]
    db = Database(settings.resolved_database_url)
    try:
        await chase_workers_polling(env, settings.temporal_task_queue)
        started = time.perf_counter()
        await start_all_chases(env.client, settings.temporal_task_queue, org_id)
        settled = await planned(db, invoices, started)
        return time.perf_counter() - started, settled
    finally:
        await db.dispose()
        left_running = [
            await stop_process(worker, home / f"worker-{n}.log", 120)
            for n, worker in enumerate(workers)
        ]
        if any(left_running):
            raise RuntimeError("\n".join(filter(None, left_running)))


async def chase_workers_polling(env: WorkflowEnvironment, queue: str) -> None:
    """Until the CHASE_PROCESSES workers poll the chase queue's workflow tasks (a minute at
    most): the clock starts with every worker ready, as the in-process run's does."""
    deadline = time.monotonic() + 60
    while await pollers(env.client, queue) < CHASE_PROCESSES:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{CHASE_PROCESSES} chase workers did not poll {queue} in a minute")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def seeded(invoices: int) -> AsyncIterator[tuple[WorkflowEnvironment, Settings, int]]:
    """A fresh dev server and a database holding an organisation with `invoices` open
    invoices: (the server, settings on both, the organisation's id)."""
    env = await dev_server()
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = bench_settings(
                Path(home),
                temporal_address=env.client.service_client.config.target_host,
                temporal_task_queue=f"bench-{uuid.uuid4().hex}",
            )
            org_id = seed_open_invoices(settings, "Bench Chasing Ltd", invoices, CUSTOMERS)
            yield env, settings, org_id
    finally:
        await env.shutdown()


async def measure(scale: Scale) -> list[Figure]:
    invoices = scale.pick(5_000, 200)
    async with seeded(invoices) as (env, settings, org_id):
        baseline = await bare_starts(env, invoices)
        result = await duely_starts(env, settings, org_id, invoices)
    # A world of its own: the first run's 5,000 chases stay out of the second's.
    async with seeded(invoices) as (env, settings, org_id):
        split, split_settled = await split_workers(env, settings, org_id, invoices)
    if result["told"] != invoices:
        raise RuntimeError(f"StartChasesWorkflow told {result['told']} of {invoices} chases")
    ratio = result["started"] / baseline
    setup = (
        f"{invoices:,} open invoices of {CUSTOMERS} customers, dev server, SQLite, "
        f"{CONCURRENCY} starts in flight"
    )
    planned_note = (
        f"{setup}; until every chase has planned and mirrored its state (chase_state "
        f"'scheduled'), no baseline: engine-bound (each chase's first workflow tasks and "
        f"activities on one worker and the dev server; see engine_rate)"
    )
    if result["settled"] < invoices:
        planned_note += f"; NOT all settled: {result['settled']:,} after {PLANNED_PATIENCE:.0f} s"
    return [
        Figure(
            "fan_out_5k",
            result["started"],
            "s",
            baseline,
            f"{setup}; every chase started (StartChasesWorkflow done) vs a bare start_workflow "
            f"loop of as many no-op workflows; goal 1.3x: {'met' if ratio <= 1.3 else NOT_MET}",
        ),
        Figure("fan_out_5k_planned", result["planned"], "s", None, planned_note),
        Figure(
            "fan_out_5k_planned_split",
            split,
            "s",
            result["planned"],
            f"{setup}; as fan_out_5k_planned, with the worker split: {CHASE_PROCESSES} `duely "
            f"worker` processes on the chase queue and one for sync, ledger and delivery "
            f"(DUELY_WORKER_QUEUES), a fresh dev server; baseline: fan_out_5k_planned (one "
            f"worker in the benchmark's process), this run; bound by this machine's "
            f"{os.cpu_count()} cores, shared with the dev server"
            + (
                f"; NOT all settled: {split_settled:,} after {PLANNED_PATIENCE:.0f} s"
                if split_settled < invoices
                else ""
            ),
        ),
    ]
