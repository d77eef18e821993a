"""An AccountsIQ company in the sandbox, served over HTTP, and duely's ledger client of it
(signed in with the company's keys through duely's own service client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio

from duely.integrations.ledgers.accountsiq.api import AccountsIQLedger
from duely.integrations.ledgers.accountsiq.service import AccountsIQService, Credentials
from duely.integrations.ledgers.oauth_tokens import TokenKeeper
from duely.integrations.ledgers.rate_limit import TenantRateLimiter
from duely.sandbox import create_sandbox_app
from duely.sandbox.accountsiq import AccountsIQSandbox
from tests.quickbooks.conftest import MemoryTokens
from tests.serving import serve, shut

PARTNER_KEY = "duely-test-partner-key"
COMPANY_ID, USER_KEY, LOCATION = "readsltd", "reads-ltd-user-key-0001", "eu2"


@dataclass
class Connected:
    sandbox: AccountsIQSandbox
    company: object
    service: AccountsIQService
    ledger: AccountsIQLedger
    keeper: TokenKeeper


@pytest_asyncio.fixture
async def connected() -> AsyncIterator[Connected]:
    sandbox = AccountsIQSandbox()
    sandbox.add_partner_key(PARTNER_KEY)
    company = sandbox.add_company(
        "Reads Ltd", 1_200, seed=41, region=LOCATION, company_id=COMPANY_ID, user_key=USER_KEY
    )
    served = await serve(create_sandbox_app(accountsiq=sandbox))
    http = httpx.AsyncClient(timeout=30)
    service = AccountsIQService(http, f"{served.url}/accountsiq/{{region}}", PARTNER_KEY)
    credentials = Credentials(COMPANY_ID, USER_KEY, LOCATION)
    store = MemoryTokens(await service.login(credentials), [])

    async def new_session(user_key: str):
        store.refreshed_with.append(user_key)
        return await service.login(Credentials(COMPANY_ID, user_key, LOCATION))

    keeper = TokenKeeper(store, new_session, asyncio.Lock())
    ledger = AccountsIQLedger(service, LOCATION, COMPANY_ID, keeper, TenantRateLimiter(600, 4))
    try:
        yield Connected(sandbox, company, service, ledger, keeper)
    finally:
        await http.aclose()
        await shut(served)
