"""Initial sync of a 10,000-invoice Xero organisation, beside a bare httpx loop fetching the
same pages from the same sandbox in the same run. The sandbox keeps Xero's rate limits on."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from sqlmodel import Session

from bench.setup import bench_settings, bench_xero, timed_first_sync
from duely.accounts.organisations import ensure_organisation
from duely.core.db import Database, make_sync_engine
from duely.integrations.ledgers.connections import Ledgers
from duely.migrate import upgrade
from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from tests.serving import serve, shut
from tests.xero.conftest import connect_directly

INVOICES = 10_000
PAGE_SIZE = 1000


async def bare_fetch(api: str, headers: dict) -> tuple[float, int, int]:
    """What the network part costs: every page of customers and sales invoices, nothing else."""
    started = time.perf_counter()
    calls = invoices = 0
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        for path, key, where in (
            ("Contacts", "Contacts", "IsCustomer==true"),
            ("Invoices", "Invoices", 'Type=="ACCREC"'),
        ):
            page = 1
            while True:
                response = await http.get(
                    f"{api}/{path}",
                    params={
                        "where": where,
                        "order": "UpdatedDateUTC ASC",
                        "page": page,
                        "pageSize": PAGE_SIZE,
                    },
                )
                response.raise_for_status()
                calls += 1
                rows = response.json()[key]
                invoices += len(rows) if key == "Invoices" else 0
                if len(rows) < PAGE_SIZE:
                    break
                page += 1
    return time.perf_counter() - started, calls, invoices


async def duely_sync(xero: XeroSandbox, tenant, sandbox_url: str, home: Path) -> dict:
    settings = bench_settings(home, sandbox_url)
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine) as session:
        # Chasing off: this figure is the mirror; bench/chase_fan_out.py measures the chases.
        organisation = ensure_organisation(session, "Bench Ltd", chase_mode="off")
        session.commit()
        org_id = organisation.id
    engine.dispose()

    connection = await connect_directly(xero, settings, org_id, tenant, "bench")
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    try:
        result = await timed_first_sync(settings, db, ledgers, connection)
        return {**result, "waited": ledgers.limiter(tenant.tenant_id).waited_seconds}
    finally:
        await ledgers.aclose()
        await db.dispose()


async def main() -> None:
    xero = bench_xero()
    seeding = time.perf_counter()
    tenant = xero.add_tenant("Bench Trading", INVOICES, seed=99)
    seeded = time.perf_counter() - seeding
    sales = sum(1 for i in tenant.invoices.values() if i.kind == "ACCREC")
    served = await serve(create_sandbox_app(xero))
    sandbox_url = f"{served.url}/xero"
    try:
        token = xero.connect("bench", [tenant.tenant_id]).access_token
        baseline, calls, fetched = await bare_fetch(
            f"{sandbox_url}/api.xro/2.0",
            {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant.tenant_id},
        )
        with tempfile.TemporaryDirectory() as home:
            result = await duely_sync(xero, tenant, sandbox_url, Path(home))
    finally:
        await shut(served)
    run = result["run"]
    limits = xero.limiter.limits
    print(
        f"initial sync: {INVOICES:,} invoices seeded ({sales:,} sales) in {seeded:.1f} s; "
        f"sandbox rate limits ON ({limits.per_minute}/min, {limits.concurrent} in flight)"
    )
    print(
        f"  bare httpx loop, same pages    {baseline:7.2f} s  {calls} calls, {fetched:,} invoices"
    )
    print(
        f"  duely (Temporal, SQLite)       {result['seconds']:7.2f} s  {run.pages} pages, "
        f"{result['mirrored']:,} invoices mirrored, status {run.status}"
    )
    print(
        f"  ratio duely / bare             {result['seconds'] / baseline:7.1f} x   "
        f"(duely waited {result['waited']:.1f} s on rate limits; "
        f"calls refused by the sandbox: {dict(xero.limiter.refused) or 'none'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
