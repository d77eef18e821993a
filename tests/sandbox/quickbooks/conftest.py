"""Fixtures for the QuickBooks sandbox: a sandbox with one app and one seeded company, the app
in-process (Litestar's AsyncTestClient), a real uvicorn server where sockets matter, and
Intuit's XSD (see xsd.py) loaded once per session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.company import Company
from duely.sandbox.quickbooks.webhooks import WebhookSettings
from tests.sandbox.quickbooks.xsd import IntuitSchema, NoSchema, load_schema, missing
from tests.serving import Served, serve, shut

CLIENT_ID = "qb-test-app"
CLIENT_SECRET = "qb-test-app-secret"
REDIRECT_URI = "http://127.0.0.1:8000/connections/quickbooks/callback"
MINOR = {"minorversion": "75"}


def api(company: Company) -> str:
    return f"/quickbooks/v3/company/{company.realm_id}"


@pytest.fixture(scope="session")
def intuit_schema() -> IntuitSchema | None:
    return load_schema()


@pytest.fixture
def xsd(intuit_schema: IntuitSchema | None) -> IntuitSchema:
    """Intuit's schema; the test skips, naming the folder, when it is missing."""
    if intuit_schema is None:
        pytest.skip(missing())
    return intuit_schema


@pytest.fixture
def xsd_when_present(intuit_schema: IntuitSchema | None) -> IntuitSchema | NoSchema:
    """Intuit's schema, or a stand-in that checks nothing when it is missing."""
    return intuit_schema or NoSchema()


@pytest.fixture
def quickbooks() -> QuickBooksSandbox:
    sandbox = QuickBooksSandbox(
        webhook_settings=WebhookSettings(batch_delay=0.05, first_backoff=0.05)
    )
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", [REDIRECT_URI])
    sandbox.add_company("Acme Trading Ltd", 300, seed=11)
    return sandbox


@pytest.fixture
def company(quickbooks: QuickBooksSandbox) -> Company:
    return next(iter(quickbooks.store.companies.values()))


@pytest.fixture
def auth(quickbooks: QuickBooksSandbox, company: Company) -> dict[str, str]:
    """Headers of an API call by the test app to the company."""
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    return {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}


@pytest_asyncio.fixture
async def client(quickbooks: QuickBooksSandbox) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_sandbox_app(quickbooks=quickbooks)) as test_client:
        yield test_client


@pytest_asyncio.fixture
async def server(quickbooks: QuickBooksSandbox) -> AsyncIterator[Served]:
    served = await serve(create_sandbox_app(quickbooks=quickbooks))
    yield served
    await shut(served)
