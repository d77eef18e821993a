"""Keep a long activity visibly alive while it waits (on rate limits, on the ledger)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory


@contextlib.asynccontextmanager
async def heartbeating(details: Callable[[], Any], every_seconds: float = 5) -> AsyncIterator[None]:
    """Heartbeat `details()` every few seconds until the block ends: the block's own waits
    (a rate limiter pausing a minute) must not look like a dead worker."""

    async def beat() -> None:
        while True:
            activity.heartbeat(details())
            await asyncio.sleep(every_seconds)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def hand_over_if_worker_stops(work: str) -> None:
    """Called at a safe point of a long activity that resumes from its last heartbeat (a
    sync's pages, a fan-out's chase starts): when its worker is stopping, the activity ends
    there and is retried on the next worker, instead of holding the stop. The worker's drain
    is for an email half handed over; a fan-out of 500 chase starts on a loaded engine held
    Ctrl-C on `duely up` past 20 s (7 December). Benign: logged at DEBUG, not as a failure."""
    if activity.is_worker_shutdown():
        raise ApplicationError(
            f"the worker is stopping: {work} resumes on the next worker from its last heartbeat",
            type="WorkerStopping",
            category=ApplicationErrorCategory.BENIGN,
        )
