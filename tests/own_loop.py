"""duely's worker and web app on an event loop of their own, in a thread, as in production
they run in processes of their own.

A test arranges and checks rows through a synchronous session. A write of the test's that
meets the worker's open write transaction waits (SQLite's busy handler, PostgreSQL's row
lock) on the test's thread. The worker's transaction needs a turn of its loop to commit: were
that the test's loop, neither could go on, and SQLite fails the test's write after its busy
timeout with "database is locked" (PostgreSQL would wait for ever).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

T = TypeVar("T")


@contextlib.asynccontextmanager
async def on_own_loop(
    enter: Callable[[], AbstractAsyncContextManager[T]],
) -> AsyncIterator[tuple[T, asyncio.AbstractEventLoop]]:
    """Enter `enter()` on a new event loop in a thread, and leave it there when this block
    ends; yields what it gave and its loop. Whatever entering or leaving raises is raised here.
    (Each loop connects its own Temporal client: temporalio's are not safe across threads.)"""
    entered: concurrent.futures.Future = concurrent.futures.Future()
    finished: concurrent.futures.Future = concurrent.futures.Future()

    async def hold() -> None:
        leave = asyncio.Event()
        # One task enters and leaves: a context manager may hold a task group or a timeout.
        async with enter() as value:
            entered.set_result((value, asyncio.get_running_loop(), leave))
            await leave.wait()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as error:  # handed to the test's thread, which raises it
            finished.set_exception(error)
        else:
            finished.set_result(None)

    thread = threading.Thread(target=run, name="duely-app", daemon=True)
    thread.start()
    await asyncio.wait(
        [asyncio.wrap_future(entered), asyncio.wrap_future(finished)],
        return_when=asyncio.FIRST_COMPLETED,
    )
    if not entered.done():
        finished.result()  # raises what entering raised
        raise RuntimeError("the app's loop ended before it was entered")
    value, loop, leave = entered.result()
    try:
        yield value, loop
    finally:
        loop.call_soon_threadsafe(leave.set)
        await asyncio.wrap_future(finished)
