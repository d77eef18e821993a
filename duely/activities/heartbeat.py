"""Keep a long activity visibly alive while it waits (on rate limits, on the ledger), and
hand it over to the next worker when its own is stopping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

T = TypeVar("T")


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
    """Called at a safe point of a long activity that may start again (a sync's pages, a
    fan-out's chase starts and a month's statements resume from their heartbeat; a reminder
    batch with nothing handed over yet is retried whole): when its worker is stopping, the
    activity ends there and is retried on the next worker instead of holding the stop. The
    worker's drain is for an email half handed over; a fan-out of 500 chase starts on a
    loaded engine held Ctrl-C on `duely up` past 20 s (7 December). Benign: logged at DEBUG,
    not as a failure."""
    if activity.is_worker_shutdown():
        raise ApplicationError(
            f"the worker is stopping: {work} carries on on the next worker",
            type="WorkerStopping",
            category=ApplicationErrorCategory.BENIGN,
        )


async def unless_worker_stops(wait: Awaitable[T], work: str) -> T:
    """`wait`'s result, unless the worker begins to stop first: then the wait is dropped and
    the activity hands over (hand_over_if_worker_stops). For a wait on other work that a
    stopping process will not do, such as a sync on the sync queue, which stops too."""
    waiting = asyncio.ensure_future(wait)
    stopping = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, stopping):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if waiting.cancelled():
        hand_over_if_worker_stops(work)
    return waiting.result()
