"""Keep a long activity visibly alive while it waits (on rate limits, on the ledger)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio import activity


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
