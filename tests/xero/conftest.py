"""duely connected to a real Xero sandbox server, with a real worker on the dev server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select

from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.connections import Ledgers, save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.models import Connection, Provider, SyncRun, SyncStatus, utcnow
from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.consent import allow_access
from duely.sandbox.xero.sandbox import base_url_for_port
from duely.sandbox.xero.webhooks import WebhookSettings
from duely.web.app import create_app
from tests.conftest import login
from tests.live import Recorded, recording_worker
from tests.serving import serve, shut
from tests.waiting import eventually

WEBHOOK_KEY = "test-webhook-key"


@pytest.fixture
def xero(duely_port, sandbox_port) -> XeroSandbox:
    duely_url = f"http://127.0.0.1:{duely_port}"
    sandbox = XeroSandbox(
        base_url=base_url_for_port(sandbox_port),
        webhook_settings=WebhookSettings(batch_delay=0.05, first_backoff=0.05),
    )
    sandbox.register_app(
        "duely-test",
        "duely-test-secret",
        "duely (tests)",
        [f"{duely_url}/connections/xero/callback"],
        webhook_url=f"{duely_url}/webhooks/xero",
        webhook_key=WEBHOOK_KEY,
    )
    return sandbox


@pytest_asyncio.fixture
async def xero_url(xero, sandbox_port) -> AsyncIterator[str]:
    served = await serve(create_sandbox_app(xero), sandbox_port)
    yield f"{served.url}/xero"
    await shut(served)


@pytest.fixture
def xero_settings(live_settings, xero_url, duely_port):
    return live_settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{duely_port}",
            "xero_client_id": "duely-test",
            "xero_client_secret": "duely-test-secret",
            "xero_webhook_key": WEBHOOK_KEY,
            "xero_login_url": xero_url,
            "xero_identity_url": f"{xero_url}/identity",
            "xero_api_url": xero_url,
        }
    )


@pytest_asyncio.fixture
async def worker(dev_server_env, xero_settings) -> AsyncIterator[Recorded]:
    async with recording_worker(dev_server_env.client, xero_settings) as recorded:
        yield recorded


@pytest_asyncio.fixture
async def duely(xero_settings, duely_port) -> AsyncIterator[httpx.AsyncClient]:
    """duely's web app on a real socket: the ledger calls it back (OAuth, webhooks) and its
    handlers call the ledger, all in this event loop."""
    served = await serve(create_app(xero_settings), duely_port)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        yield client
    await shut(served)


async def connect_through_oauth(
    duely: httpx.AsyncClient, admin_email: str, tenant_names: list[str] | None = None
):
    """A person's round trip: duely -> Xero's consent page -> back to duely's callback."""
    await login(duely, admin_email)
    settings_page = await duely.get("/connections")
    token = settings_page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    start = await duely.post(
        "/connections/xero/connect", data={"_csrf_token": token}, follow_redirects=False
    )
    assert start.status_code == 303
    answer = await allow_access(start.headers["location"], tenant_names)
    return await duely.get("/connections/xero/callback", params=answer, follow_redirects=False)


async def wait_for_runs(db, connection_id: int, count: int, seconds: float = 60) -> list[SyncRun]:
    """Wait until `count` sync runs of the connection have finished; returns them in order."""

    def finished() -> list[SyncRun] | None:
        db.expire_all()
        runs = db.exec(
            select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.id)
        ).all()
        done = [r for r in runs if r.status != SyncStatus.RUNNING]
        return done if len(done) >= count else None

    return await eventually(finished, f"{count} sync run(s) never finished", seconds=seconds)


def only_connection(db) -> Connection:
    db.expire_all()
    return db.exec(select(Connection)).one()


def unique_name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def connect_directly(xero, settings, organisation_id: int, tenant, client_id: str):
    """A connection as the OAuth flow leaves it, with the consent done inside the sandbox:
    for tests and benchmarks that are not about OAuth."""
    answer = xero.connect(client_id, [tenant.tenant_id])
    tokens = OAuthTokens(
        answer.access_token,
        answer.refresh_token,
        utcnow() + timedelta(seconds=answer.expires_in),
    )
    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            return await save_connection(
                session,
                SecretBox(settings.resolved_secret_key),
                organisation_id=organisation_id,
                provider=Provider.XERO,
                tenant_id=tenant.tenant_id,
                tenant_name=tenant.organisation.name,
                tokens=tokens,
            )
    finally:
        await db.dispose()


@pytest_asyncio.fixture
async def connected(xero, xero_settings, org_a) -> AsyncIterator[tuple]:
    """A tenant already connected to org A, and the process-wide Ledgers a worker would hold."""
    tenant = xero.add_tenant("Ledger Calls Ltd", 80, seed=21)
    connection = await connect_directly(xero, xero_settings, org_a.id, tenant, "duely-test")
    db = Database(xero_settings.resolved_database_url)
    ledgers = Ledgers(xero_settings, db)
    yield tenant, connection, ledgers
    await ledgers.aclose()
    await db.dispose()
