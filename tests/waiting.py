"""Waiting in a test for what another task, thread or process does: one poller for all."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

SHOWN_CHARACTERS = 1_000
"""How much of the last value a failure shows: enough to see what was there instead."""


async def eventually(
    condition: Callable[[], Any],
    message: str | Callable[[], str],
    seconds: float = 30,
    every: float = 0.1,
) -> Any:
    """Call `condition` (sync or async, no arguments) every `every` seconds until it returns
    something truthy, and return that. After `seconds`, fail with `message` (or what it
    returns, worked out then: a log's tail, say) and the last value seen. A call still
    running at the deadline is cancelled, so a hung server fails the test on time too."""
    last: Any = None
    try:
        async with asyncio.timeout(seconds) as limit:
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                last = value
                if last:
                    return last
                await asyncio.sleep(every)
    except TimeoutError:
        if not limit.expired():
            raise  # the condition's own time-out, not ours: let it say what it was
        said = message() if callable(message) else message
        seen = repr(last)[:SHOWN_CHARACTERS]
        raise AssertionError(f"{said} (waited {seconds:g} s; last seen: {seen})") from None
