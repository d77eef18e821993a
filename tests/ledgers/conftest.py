"""Every ledger's sandbox served on a real socket, duely's web app and a real worker on the dev
server, for the end-to-end tests that run once per ledger (tests/ledgers/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.connections import save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.models import Connection, utcnow
from duely.sandbox import create_sandbox_app
from duely.settings import Settings
from duely.web.app import create_app
from tests.ledgers.harness import LEDGERS, LedgerUnderTest
from tests.live import Recorded, recording_worker
from tests.serving import serve, shut

SANDBOX_URLS = (
    "xero_login_url",
    "xero_identity_url",
    "xero_api_url",
    "quickbooks_auth_url",
    "quickbooks_token_url",
    "quickbooks_revoke_url",
    "quickbooks_api_url",
    "accountsiq_url",
)


@pytest.fixture(params=sorted(LEDGERS))
def ledger(request, duely_port) -> LedgerUnderTest:
    return LEDGERS[request.param](f"http://127.0.0.1:{duely_port}")


@pytest_asyncio.fixture
async def sandbox_url(ledger, sandbox_port) -> AsyncIterator[str]:
    served = await serve(create_sandbox_app(**{ledger.name: ledger.sandbox}), sandbox_port)
    yield served.url
    await shut(served)


@pytest.fixture
def ledger_settings(live_settings, ledger, sandbox_url, duely_port, sandbox_port, smtp_server):
    """duely's settings, the worker's too: the ledger's test app on the served sandbox, real
    SMTP, no minute of gathering per reminder."""
    _, smtp_url = smtp_server
    settings = live_settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{duely_port}",
            "sandbox_port": sandbox_port,
            "smtp_url": smtp_url,
            "outbox_gather_seconds": 1,
            **dict.fromkeys(SANDBOX_URLS, ""),
            **ledger.settings(),
        }
    )
    return Settings.model_validate(settings.model_dump())  # the empty URLs follow the port


@pytest_asyncio.fixture
async def worker(dev_server_env, ledger_settings) -> AsyncIterator[Recorded]:
    async with recording_worker(dev_server_env.client, ledger_settings) as recorded:
        yield recorded


@pytest_asyncio.fixture
async def duely(ledger_settings, duely_port) -> AsyncIterator[httpx.AsyncClient]:
    """duely's web app on a real socket: the ledger's consent page sends the browser back to
    it, and its handlers call the ledger, all in this event loop."""
    served = await serve(create_app(ledger_settings), duely_port)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        yield client
    await shut(served)


async def connect_directly(
    ledger: LedgerUnderTest, settings: Settings, organisation_id: int, company
) -> Connection:
    """A connection as the OAuth flow leaves it, the consent done inside the sandbox: for the
    tests that are not about OAuth."""
    answer = ledger.consent_directly(company)
    tokens = OAuthTokens(
        answer.access_token, answer.refresh_token, utcnow() + timedelta(seconds=answer.expires_in)
    )
    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            return await save_connection(
                session,
                SecretBox(settings.resolved_secret_key),
                organisation_id=organisation_id,
                provider=ledger.provider,
                tenant_id=ledger.tenant_id(company),
                tenant_name=ledger.company_name(company),
                tokens=tokens,
                region=ledger.region(company),
            )
    finally:
        await db.dispose()
