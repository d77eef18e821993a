"""Initial sync of a 10,000-invoice QuickBooks Online company, beside a bare httpx loop
fetching the same pages from the same sandbox in the same run. The sandbox keeps QuickBooks'
rate limits on (500 a minute, 10 in flight per company)."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import Session

from bench.results import Figure, Scale
from bench.setup import bench_settings, timed_first_sync
from duely.accounts.organisations import ensure_organisation
from duely.core.db import Database, make_sync_engine
from duely.core.security import SecretBox
from duely.integrations.ledgers.connections import Ledgers, save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.migrate import upgrade
from duely.models import Provider, utcnow
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.oauth import TOKEN_PATH
from tests.serving import serve, shut

PAGE_SIZE = 1000
NOT_MET = (
    "not met: bound by the mirror's writes (SQLite, one transaction a page, overlapped with "
    "the next page's fetch) and the sync workflow's activity round trips"
)
CLIENT_ID, CLIENT_SECRET = "bench-quickbooks", "bench-quickbooks-secret"


async def bare_fetch(api: str, headers: dict) -> tuple[float, int, int]:
    """What the network part costs: every page of customers and invoices, nothing else."""
    started = time.perf_counter()
    calls = invoices = 0
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        for entity in ("Customer", "Invoice"):
            start = 1
            while True:
                response = await http.get(
                    f"{api}/query",
                    params={
                        "query": f"select * from {entity} ORDERBY MetaData.LastUpdatedTime "  # noqa: S608
                        f"STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}",
                        "minorversion": "75",
                    },
                )
                response.raise_for_status()
                calls += 1
                rows = response.json()["QueryResponse"].get(entity, [])
                invoices += len(rows) if entity == "Invoice" else 0
                if len(rows) < PAGE_SIZE:
                    break
                start += PAGE_SIZE
    return time.perf_counter() - started, calls, invoices


async def duely_sync(sandbox: QuickBooksSandbox, company, base: str, home: Path) -> dict:
    settings = bench_settings(
        home,
        quickbooks_client_id=CLIENT_ID,
        quickbooks_client_secret=CLIENT_SECRET,
        quickbooks_token_url=f"{base}{TOKEN_PATH}",
        quickbooks_api_url=base,
    )
    upgrade(settings.resolved_database_url)
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine) as session:
        # Chasing off: this figure is the mirror; bench/chase_fan_out.py measures the chases.
        org_id = ensure_organisation(session, "Bench Ltd", chase_mode="off").id
        session.commit()
    engine.dispose()
    answer = sandbox.connect(CLIENT_ID, company.realm_id)
    db = Database(settings.resolved_database_url)
    async with db.session() as session:
        connection = await save_connection(
            session,
            SecretBox(settings.resolved_secret_key),
            organisation_id=org_id,
            provider=Provider.QUICKBOOKS,
            tenant_id=company.realm_id,
            tenant_name=company.name,
            tokens=OAuthTokens(
                answer.access_token,
                answer.refresh_token,
                utcnow() + timedelta(seconds=answer.expires_in),
            ),
        )
    ledgers = Ledgers(settings, db)
    try:
        result = await timed_first_sync(settings, db, ledgers, connection)
        return {
            **result,
            "waited": ledgers.limiter(company.realm_id, Provider.QUICKBOOKS).waited_seconds,
        }
    finally:
        await ledgers.aclose()
        await db.dispose()


async def measure(scale: Scale) -> list[Figure]:
    invoices = scale.pick(10_000, 500)
    sandbox = QuickBooksSandbox()
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "bench", ["http://127.0.0.1:9/cb"])
    company = sandbox.add_company("Bench Trading", invoices, seed=99)
    served = await serve(create_sandbox_app(quickbooks=sandbox))
    base = f"{served.url}/quickbooks"
    try:
        token = sandbox.connect(CLIENT_ID, company.realm_id).access_token
        baseline, calls, fetched = await bare_fetch(
            f"{base}/v3/company/{company.realm_id}",
            {"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with tempfile.TemporaryDirectory() as home:
            result = await duely_sync(sandbox, company, base, Path(home))
    finally:
        await shut(served)
    run = result["run"]
    limits = sandbox.limiter.limits
    ratio = result["seconds"] / baseline
    return [
        Figure(
            "quickbooks_sync_10k",
            result["seconds"],
            "s",
            baseline,
            f"{result['mirrored']:,} invoices mirrored in {run.pages} pages (status "
            f"{run.status}), chasing off (the mirror alone); baseline = bare httpx fetch of the "
            f"same {calls} pages ({fetched:,} invoices); sandbox rate limits ON "
            f"({limits.per_minute}/min, {limits.concurrent} in flight; refused: "
            f"{dict(sandbox.limiter.refused) or 'none'}), duely waited {result['waited']:.1f} s "
            f"on them; Temporal dev server, SQLite; goal 1.3x: "
            f"{'met' if ratio <= 1.3 else NOT_MET}",
        )
    ]
