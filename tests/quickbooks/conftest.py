"""A QuickBooks company in the sandbox, served over HTTP, and duely's ledger client of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio

from duely.integrations.ledgers.oauth_tokens import OAuthTokens, TokenKeeper
from duely.integrations.ledgers.quickbooks.api import QuickBooksLedger
from duely.integrations.ledgers.rate_limit import TenantRateLimiter
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from tests.serving import serve, shut

CLIENT_ID, CLIENT_SECRET = "duely-qb-test", "duely-qb-test-secret"


@dataclass
class MemoryTokens:
    """A connection's tokens kept in memory (the database's part is Xero's tested store)."""

    tokens: OAuthTokens
    refreshed_with: list[str]

    async def load(self) -> OAuthTokens:
        return self.tokens

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[MemoryTokens]:
        yield self

    async def save(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens

    async def mark_needs_reconnect(self, reason: str) -> None:
        raise AssertionError(f"the connection was given up: {reason}")


@dataclass
class Connected:
    sandbox: QuickBooksSandbox
    company: object
    ledger: QuickBooksLedger
    store: MemoryTokens


@pytest_asyncio.fixture
async def connected() -> AsyncIterator[Connected]:
    sandbox = QuickBooksSandbox()
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", ["http://127.0.0.1:9/cb"])
    company = sandbox.add_company("Reads Ltd", 2_500, seed=31)
    answer = sandbox.connect(CLIENT_ID, company.realm_id)
    expires = datetime.now(UTC) + timedelta(seconds=answer.expires_in)
    store = MemoryTokens(OAuthTokens(answer.access_token, answer.refresh_token, expires), [])

    async def refresh(refresh_token: str) -> OAuthTokens:  # the connector's OAuth comes next
        store.refreshed_with.append(refresh_token)
        again = sandbox.identity.refresh(sandbox.identity.app(CLIENT_ID), refresh_token)
        return OAuthTokens(
            again.access_token,
            again.refresh_token,
            datetime.now(UTC) + timedelta(seconds=again.expires_in),
        )

    served = await serve(create_sandbox_app(quickbooks=sandbox))
    http = httpx.AsyncClient(timeout=30)
    keeper = TokenKeeper(store, refresh, asyncio.Lock())
    ledger = QuickBooksLedger(
        http, f"{served.url}/quickbooks", company.realm_id, keeper, TenantRateLimiter(400, 8)
    )
    try:
        yield Connected(sandbox, company, ledger, store)
    finally:
        await http.aclose()
        await shut(served)
