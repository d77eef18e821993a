"""The harness's own promise: a test's synchronous writes and the worker's writes on one
SQLite file wait for each other, as two processes' do, instead of failing."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import update

from duely.core.db import Database
from duely.models import Customer, utcnow
from tests.factories import add_customer


async def test_a_tests_write_waits_out_a_workers_write_instead_of_failing_database_locked(
    live, org_a
):
    """A worker's write holds SQLite's lock across a turn of its loop (UPDATE, await, COMMIT).
    The test's synchronous write meanwhile waits in SQLite's busy handler on the test's thread.
    On the same loop the worker never gets its turn: both wait out the busy timeout and the
    test's write fails with "database is locked" (test_chase_controls, CI of stop 25)."""
    customer = add_customer(live.db, org_a.id, "Locked")
    locked = threading.Event()

    async def worker_writes() -> None:
        database = Database(live.settings.resolved_database_url)
        try:
            async with database.session() as session:
                await session.exec(
                    update(Customer)
                    .where(Customer.id == customer.id)
                    .values(name="Renamed by the worker")
                )
                locked.set()
                await asyncio.sleep(0.3)
                await session.commit()
        finally:
            await database.dispose()

    worker = asyncio.run_coroutine_threadsafe(worker_writes(), live.app_loop)
    assert await asyncio.to_thread(locked.wait, 10), "the worker's write never took the lock"
    customer.email_opted_out_at = utcnow()
    live.db.commit()
    await asyncio.wrap_future(worker)

    live.db.expire_all()
    row = live.db.get(Customer, customer.id)
    assert row.name == "Renamed by the worker"
    assert row.email_opted_out_at is not None
