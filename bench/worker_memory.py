"""The memory of one `duely worker` process holding every chase of a big ledger, each woken once.

The worker is a real `duely worker`, an OS process of its own (tests/worker_processes.py), so
its resident set is its own, not this benchmark's. It starts idle on a fresh dev server (the
baseline: its RSS before any chase), then every open invoice's chase starts (switching chasing
on: `start_all_chases`), and then every chase is woken once with `chasing_changed`, as when a
customer's chasing is switched: each re-reads its plan, and an evicted one is replayed from its
history into the worker's workflow cache first. The figure is the worker's RSS after the last
one woke (VmRSS in /proc/<pid>/status), and its peak (VmHWM) beside it.

The honest observable that a chase woke: before the wake every customer's chasing is switched
off in the database, so a chase that re-read its plan holds as "off" and writes that state to
its invoice (`note_chase`); the benchmark waits for every invoice's chase_state to say "off".
"""

from __future__ import annotations

import asyncio
import inspect
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.worker import Worker

from bench.results import Figure, Scale
from bench.setup import bench_settings, dev_server, seed_open_invoices
from duely.activities.fan_out import CONCURRENCY
from duely.chase.control import chasing_changed, start_all_chases
from duely.core.db import make_sync_engine
from duely.core.temporal.pollers import pollers
from duely.models import Customer, Invoice
from duely.settings import Settings
from tests.worker_processes import worker_process

GOAL_MIB = 500
CACHE_SETTING = "worker_workflow_cache"
"""DUELY_WORKER_WORKFLOW_CACHE: how many workflows the worker keeps in its cache, when duely's
settings have it (passed to the worker explicitly, at the setting's default)."""
IDLE_SETTLE_SECONDS = 3


def _cache_size() -> tuple[dict[str, object], int, str]:
    """What the worker is given (as DUELY_* settings), the cache size it runs with, and where
    that size comes from."""
    field = Settings.model_fields.get(CACHE_SETTING)
    if field is not None and isinstance(field.default, int):
        return (
            {CACHE_SETTING: field.default},
            field.default,
            f"DUELY_{CACHE_SETTING.upper()}={field.default} (the setting's default)",
        )
    default = inspect.signature(Worker.__init__).parameters["max_cached_workflows"].default
    return {}, default, "temporalio's default max_cached_workflows (duely sets none)"


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of the process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values


class WorkerProcess:
    """The `duely worker` process, watched: a death fails the benchmark with its log."""

    def __init__(self, settings: Settings, home: Path, **more: object) -> None:
        self.log = home / "worker.log"
        self.process = worker_process(settings, home, self.log, **more)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"duely worker exited ({self.process.returncode}):\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # nothing in flight worth draining: the dev server goes too
        self.process.wait(timeout=30)


async def _until(what: str, done, worker: WorkerProcess, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await done():
        worker.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} took more than {seconds:.0f} s")
        await asyncio.sleep(0.25)


def _count_state(engine: Engine, state: str) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).where(Invoice.chase_state == state)).one()


async def measure(scale: Scale) -> list[Figure]:
    invoices, customers = scale.pick(10_000, 300), scale.pick(1_000, 30)
    patience = scale.pick(3_600, 300)  # seconds each phase may take before the run fails
    more, cache, cache_source = _cache_size()
    env = await dev_server()
    worker: WorkerProcess | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            queue = f"bench-memory-{uuid.uuid4().hex}"
            settings = bench_settings(
                home,
                temporal_address=env.client.service_client.config.target_host,
                temporal_task_queue=queue,
            )
            org_id = seed_open_invoices(settings, "Bench Memory Ltd", invoices, customers)
            engine = make_sync_engine(settings.resolved_database_url)
            try:
                worker = WorkerProcess(settings, home, **more)

                async def polling() -> bool:
                    return await pollers(env.client, queue) > 0

                await _until("the worker's start", polling, worker, 120)
                await asyncio.sleep(IDLE_SETTLE_SECONDS)
                worker.check()
                idle = _memory(worker.pid)

                started = time.perf_counter()
                await start_all_chases(env.client, queue, org_id)
                await env.client.get_workflow_handle(f"start-chases-{org_id}").result()

                async def scheduled() -> bool:
                    return _count_state(engine, "scheduled") >= invoices

                await _until("every chase's start", scheduled, worker, patience)
                start_seconds = time.perf_counter() - started
                after_start = _memory(worker.pid)

                # A customer-level change, as chasing_changed is for: every chase re-reads its
                # plan, finds its customer switched off and writes "off" to its invoice.
                with Session(engine) as session:
                    session.exec(update(Customer).values(chasing_enabled=False))
                    session.commit()
                    every = list(session.exec(select(Invoice).order_by(Invoice.id)).all())
                woken = time.perf_counter()
                await asyncio.gather(
                    *(
                        chasing_changed(env.client, every[n::CONCURRENCY])
                        for n in range(CONCURRENCY)
                    )
                )

                async def all_off() -> bool:
                    return _count_state(engine, "off") >= invoices

                await _until("every chase's wake", all_off, worker, patience)
                wake_seconds = time.perf_counter() - woken
                worker.check()
                after_wake = _memory(worker.pid)
            finally:
                engine.dispose()
                if worker is not None:
                    worker.stop()
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.process.kill()
        await env.shutdown()

    rss, peak, base = after_wake["VmRSS"], after_wake["VmHWM"], idle["VmRSS"]
    # Only the cached chases stay in memory; the rest were evicted and replay when woken.
    held = min(invoices, cache)
    per_cached_kib = (rss - base) * 1024 / held
    goal = (
        f"goal < {GOAL_MIB} MiB: met at cache {cache} (peak {peak:.0f} MiB)"
        if peak < GOAL_MIB
        else (
            f"goal < {GOAL_MIB} MiB: not met (peak {peak:.0f} MiB): bound by the workflow "
            f"cache, {held:,} cached chases at ~{per_cached_kib:.0f} KiB each"
        )
    )
    where = (
        f"one `duely worker` process (pid's own RSS, /proc VmRSS) holding {invoices:,} open "
        f"chases of {customers:,} customers, each woken once by chasing_changed (observed: "
        f"every invoice's chase_state written 'off'); workflow cache {cache} = {cache_source}"
    )
    return [
        Figure(
            "worker_memory",
            rss,
            "MiB",
            baseline=base,
            note=(
                f"{goal}; {where}; baseline: the same worker started and idle; "
                f"{after_start['VmRSS']:.0f} MiB once every chase started ({start_seconds:.0f} s), "
                f"{rss:.0f} MiB after the wake ({wake_seconds:.0f} s): "
                f"{per_cached_kib:.0f} KiB over idle per cached chase ({held:,} cached at most)"
            ),
        ),
        Figure(
            "worker_memory_peak",
            peak,
            "MiB",
            baseline=idle["VmHWM"],
            note=(
                f"{goal}; the same worker's peak RSS (/proc VmHWM) over the whole run; "
                f"baseline: its peak while starting up, before any chase"
            ),
        ),
    ]
