"""The engine's own pace on this machine, with no duely code anywhere: how many history events
per second Temporal's dev server sustains, and how many bare workflow starts per second it
takes with duely's fan-out concurrency. Engine-bound figures elsewhere are read against these.

The rate: N bare workflows shaped like a chase's turn (an activity, a short timer, an
activity), all started at once on a fresh dev server and run by one plain in-process Worker
(default data converter, no sandbox). Each run's history length and its start and close times
come from the server (visibility); the rate is the sum of the history lengths over the time
from the first start to the last close, both as the server recorded them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecution
from temporalio.worker import Worker

from bench.results import Figure, Scale
from bench.setup import dev_server
from duely.activities.fan_out import CONCURRENCY

TIMER = timedelta(milliseconds=100)
"""Short: the figure is the engine's pace, not the timer's length (with N runs in flight the
timers overlap, and the engine is busy meanwhile with the others' events)."""
ACTIVITY: dict = {"start_to_close_timeout": timedelta(seconds=60)}


@activity.defn
async def bare_step(n: int) -> int:
    return n + 1


@workflow.defn(sandboxed=False)  # a baseline: nothing in it needs the sandbox
class BareChaseTurn:
    """What a chase does when it wakes: an activity, a sleep, an activity."""

    @workflow.run
    async def run(self) -> int:
        n = await workflow.execute_activity(bare_step, 0, **ACTIVITY)
        await workflow.sleep(TIMER)
        return await workflow.execute_activity(bare_step, n, **ACTIVITY)


@workflow.defn(sandboxed=False)
class BareNoOp:
    @workflow.run
    async def run(self) -> None:
        return None


async def _finished(
    client: Client, queue: str, count: int, seconds: float
) -> list[WorkflowExecution]:
    """Every run on `queue`, once `count` of them have closed (visibility, polled: no
    long-poll per run that would load the server while it is measured)."""
    deadline = time.monotonic() + seconds
    while True:
        closed = (
            await client.count_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus != 'Running'")
        ).count
        if closed >= count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {closed} of {count} bare runs closed in {seconds:.0f} s")
        await asyncio.sleep(0.5)
    return [run async for run in client.list_workflows(f"TaskQueue = '{queue}'")]


async def _history_lengths(client: Client, runs: list[WorkflowExecution]) -> list[int]:
    """Each run's history length (visibility carries it once the run closed; a server that
    leaves it out is asked per run)."""
    if all(run.history_length for run in runs):
        return [run.history_length for run in runs]
    limit = asyncio.Semaphore(CONCURRENCY)

    async def length(run: WorkflowExecution) -> int:
        async with limit:
            return (
                await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
            ).history_length

    return list(await asyncio.gather(*(length(run) for run in runs)))


async def events_per_second(client: Client, runs: int) -> dict:
    queue = f"engine-rate-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[BareChaseTurn], activities=[bare_step]):
        await asyncio.gather(
            *(
                client.start_workflow(BareChaseTurn.run, id=f"{queue}-{n}", task_queue=queue)
                for n in range(runs)
            )
        )
        finished = await _finished(client, queue, runs, seconds=600)
    failed = [run.id for run in finished if run.status and run.status.name != "COMPLETED"]
    if len(finished) != runs or failed:
        raise RuntimeError(
            f"{len(finished)} bare runs listed, not {runs}; not completed: {failed[:5]}"
        )
    lengths = await _history_lengths(client, finished)
    first = min(run.start_time for run in finished)
    last = max(run.close_time for run in finished if run.close_time)
    seconds = (last - first).total_seconds()
    return {"events": sum(lengths), "per_run": sum(lengths) / runs, "seconds": seconds}


async def starts_per_second(client: Client, starts: int) -> dict:
    """Bare start_workflow calls, CONCURRENCY in flight (duely's fan-out), a worker running
    what they start (as when duely fans out), timed from the first call to the last answer."""
    queue = f"engine-starts-{uuid.uuid4().hex}"
    limit = asyncio.Semaphore(CONCURRENCY)

    async def start(n: int) -> None:
        async with limit:
            await client.start_workflow(BareNoOp.run, id=f"{queue}-{n}", task_queue=queue)

    async with Worker(client, task_queue=queue, workflows=[BareNoOp]):
        started = time.perf_counter()
        await asyncio.gather(*(start(n) for n in range(starts)))
        seconds = time.perf_counter() - started
        await _finished(client, queue, starts, seconds=600)  # none left running on the worker
    return {"seconds": seconds}


async def measure(scale: Scale) -> list[Figure]:
    runs = scale.pick(2_000, 200)
    env = await dev_server()
    try:
        # A client of its own with Temporal's default converter: no duely code on this path.
        client = await Client.connect(env.client.service_client.config.target_host)
        starts = await starts_per_second(client, runs)
        rate = await events_per_second(client, runs)
    finally:
        await env.shutdown()
    server = "Temporal's dev server (one process, SQLite in memory) on this machine's 2 cores"
    return [
        Figure(
            "engine_rate",
            rate["events"] / rate["seconds"],
            "events/s",
            note=(
                f"baseline for engine-bound figures: history events per second {server} "
                f"sustains with one plain in-process Python worker (no duely code, no sandbox): "
                f"{runs:,} bare runs of activity, {TIMER.total_seconds():g} s timer, activity "
                f"({rate['per_run']:.0f} events each) started at once; "
                f"{rate['events']:,} events from first start to last close, "
                f"{rate['seconds']:.1f} s by the server's clock"
            ),
        ),
        Figure(
            "engine_starts_per_second",
            runs / starts["seconds"],
            "starts/s",
            note=(
                f"baseline for fan-out figures: {runs:,} bare start_workflow calls, "
                f"{CONCURRENCY} in flight (duely's fan-out concurrency), a plain worker running "
                f"the no-op runs they start, on {server}; {starts['seconds']:.1f} s"
            ),
        ),
    ]
