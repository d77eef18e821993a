"""Starting the chase of every open invoice at once (what a first sync, or switching chasing
on, does), beside a bare loop starting as many no-op workflows on the same dev server with
the same concurrency, in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert
from sqlmodel import Session, select
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.setup import bench_settings, dev_server
from duely.accounts.organisations import ensure_organisation
from duely.activities.fan_out import CONCURRENCY
from duely.chase.control import start_all_chases
from duely.core.db import Database, make_sync_engine
from duely.integrations.ledgers.connections import Ledgers
from duely.migrate import upgrade
from duely.models import Customer, Invoice
from duely.settings import Settings
from duely.worker import build_worker

INVOICES = 5_000
CUSTOMERS = 500


@workflow.defn(sandboxed=False)  # a baseline: nothing in it needs the sandbox
class NoOp:
    @workflow.run
    async def run(self) -> None:
        return None


def seed(settings: Settings) -> int:
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine) as session:
        org = ensure_organisation(session, "Bench Chasing Ltd")
        session.flush()
        session.exec(
            insert(Customer),
            params=[
                {"organisation_id": org.id, "external_id": f"c{n}", "name": f"Customer {n}"}
                for n in range(CUSTOMERS)
            ],
        )
        customer_ids = session.exec(select(Customer.id)).all()
        due = date.today() + timedelta(days=30)  # nothing to send: this measures starting
        session.exec(
            insert(Invoice),
            params=[
                {
                    "organisation_id": org.id,
                    "customer_id": customer_ids[n % CUSTOMERS],
                    "external_id": f"i{n}",
                    "number": f"INV-{n:05}",
                    "reference": "",
                    "issue_date": due - timedelta(days=60),
                    "due_date": due,
                    "currency": "GBP",
                    "total": 10_000,
                    "amount_due": 10_000,
                    "status": "open",
                    "disputed": False,
                    "chasing_enabled": True,
                    "chase_state": "",
                    "workflow_id": "",
                }
                for n in range(INVOICES)
            ],
        )
        session.commit()
        org_id = org.id
    engine.dispose()
    return org_id


async def bare_starts(env: WorkflowEnvironment) -> float:
    queue = f"bare-{uuid.uuid4().hex}"
    limit = asyncio.Semaphore(CONCURRENCY)

    async def start(n: int) -> None:
        async with limit:
            await env.client.start_workflow(NoOp.run, id=f"bare-{queue}-{n}", task_queue=queue)

    async with Worker(env.client, task_queue=queue, workflows=[NoOp]):
        started = time.perf_counter()
        await asyncio.gather(*(start(n) for n in range(INVOICES)))
        return time.perf_counter() - started


async def duely_starts(env: WorkflowEnvironment, settings: Settings, org_id: int) -> dict:
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    try:
        async with build_worker(env.client, settings, db, ledgers):
            started = time.perf_counter()
            await start_all_chases(env.client, settings.temporal_task_queue, org_id)
            await env.client.get_workflow_handle(f"start-chases-{org_id}").result()
            all_started = time.perf_counter() - started
            while True:  # every chase has planned and mirrored its state
                async with db.session() as session:
                    settled = (
                        await session.exec(
                            select(func.count()).where(Invoice.chase_state == "scheduled")
                        )
                    ).one()
                if settled >= INVOICES:
                    break
                await asyncio.sleep(0.2)
            return {"started": all_started, "scheduled": time.perf_counter() - started}
    finally:
        await ledgers.aclose()
        await db.dispose()


async def main() -> None:
    env = await dev_server()
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = bench_settings(
                Path(home),
                temporal_address=env.client.service_client.config.target_host,
                temporal_task_queue=f"bench-{uuid.uuid4().hex}",
            )
            org_id = seed(settings)
            baseline = await bare_starts(env)
            result = await duely_starts(env, settings, org_id)
    finally:
        await env.shutdown()
    print(f"chase fan-out: {INVOICES:,} open invoices of {CUSTOMERS} customers, dev server, SQLite")
    print(f"  bare start_workflow loop ({CONCURRENCY} in flight)  {baseline:7.2f} s")
    print(f"  duely: every chase started             {result['started']:7.2f} s")
    print(f"  duely: every chase planned and mirrored {result['scheduled']:7.2f} s")
    print(f"  ratio started / bare                    {result['started'] / baseline:7.1f} x")


if __name__ == "__main__":
    asyncio.run(main())
