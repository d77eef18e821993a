"""Starting the chase of every open invoice at once (what a first sync, or switching chasing
on, does), beside a bare loop starting as many no-op workflows on the same dev server with
the same concurrency, in the same run. Also the bare loops the sync benchmarks compare with
(bench/initial_sync.py): starts, and signals to workflows that wait for them."""

from __future__ import annotations

import asyncio
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
from bench.setup import bench_settings, dev_server, seed_open_invoices
from duely.activities.fan_out import CONCURRENCY
from duely.chase.control import start_all_chases
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Invoice
from duely.settings import Settings
from duely.worker import build_worker

CUSTOMERS = 500
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
            settled = 0
            while settled < invoices and time.perf_counter() - started < PLANNED_PATIENCE:
                await asyncio.sleep(0.2)
                async with db.session() as session:
                    settled = (
                        await session.exec(
                            select(func.count()).where(Invoice.chase_state == "scheduled")
                        )
                    ).one()
            return {
                "told": told,
                "started": all_started,
                "planned": time.perf_counter() - started,
                "settled": settled,
            }
    finally:
        await ledgers.aclose()
        await db.dispose()


async def measure(scale: Scale) -> list[Figure]:
    invoices = scale.pick(5_000, 200)
    env = await dev_server()
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = bench_settings(
                Path(home),
                temporal_address=env.client.service_client.config.target_host,
                temporal_task_queue=f"bench-{uuid.uuid4().hex}",
            )
            org_id = seed_open_invoices(settings, "Bench Chasing Ltd", invoices, CUSTOMERS)
            baseline = await bare_starts(env, invoices)
            result = await duely_starts(env, settings, org_id, invoices)
    finally:
        await env.shutdown()
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
    ]
