"""Fixtures for the Xero sandbox: a sandbox with one app and one seeded organisation, the
app in-process (Litestar's AsyncTestClient), and a real uvicorn server where sockets matter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.webhooks import WebhookSettings
from tests.serving import Served, serve, shut

CLIENT_ID = "test-app"
CLIENT_SECRET = "test-app-secret"
REDIRECT_URI = "http://127.0.0.1:8000/connections/xero/callback"
API = "/xero/api.xro/2.0"


@pytest.fixture
def xero() -> XeroSandbox:
    sandbox = XeroSandbox(webhook_settings=WebhookSettings(batch_delay=0.05, first_backoff=0.05))
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", [REDIRECT_URI])
    sandbox.add_tenant("Acme Trading Ltd", 300, seed=11)
    return sandbox


@pytest.fixture
def tenant(xero: XeroSandbox) -> Ledger:
    return next(iter(xero.store.ledgers.values()))


@pytest.fixture
def auth(xero: XeroSandbox, tenant: Ledger) -> dict[str, str]:
    """Headers of an Accounting API call by the test app to the tenant."""
    tokens = xero.connect(CLIENT_ID, [tenant.tenant_id])
    return {"Authorization": f"Bearer {tokens.access_token}", "xero-tenant-id": tenant.tenant_id}


@pytest_asyncio.fixture
async def client(xero: XeroSandbox) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_sandbox_app(xero)) as test_client:
        yield test_client


@pytest_asyncio.fixture
async def server(xero: XeroSandbox) -> AsyncIterator[Served]:
    """The sandbox behind a real socket."""
    served = await serve(create_sandbox_app(xero))
    yield served
    await shut(served)
