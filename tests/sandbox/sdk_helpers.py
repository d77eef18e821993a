"""xero-python (Xero's own SDK) pointed at a sandbox on a loopback socket, for the tests of
credit, history, lists and reports. The SDK is synchronous: `Sdk.call` runs it in a thread so
the server, on the test's event loop, keeps answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest_asyncio
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token

from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.money import to_major
from tests.sandbox.conftest import API, CLIENT_ID, CLIENT_SECRET
from tests.serving import Served


@dataclass
class Sdk:
    accounting: AccountingApi
    tenant_id: str

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, self.tenant_id, *args, **kwargs)


def _token(xero: XeroSandbox, tenant: Ledger) -> dict:
    tokens = xero.connect(CLIENT_ID, [tenant.tenant_id])
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "scope": tokens.scope.split(),
        "expires_in": tokens.expires_in,
        "expires_at": time.time() + tokens.expires_in,
        "token_type": "Bearer",
    }


@pytest_asyncio.fixture
async def sdk(xero: XeroSandbox, tenant: Ledger, server: Served) -> AsyncIterator[Sdk]:
    token = _token(xero, tenant)
    configuration = Configuration()
    # Configuration() hands out copies of the first one made: give it its own token holder.
    configuration.oauth2_token = OAuth2Token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    client = ApiClient(
        configuration,
        pool_threads=1,
        oauth2_token_getter=lambda: token,
        oauth2_token_saver=token.update,
    )
    yield Sdk(AccountingApi(client, base_url=f"{server.url}{API}"), tenant.tenant_id)
    client.rest_client.pool_manager.clear()


def money(minor: int, currency: str) -> Decimal:
    """An amount as the SDK deserializes Xero's money."""
    return Decimal(str(to_major(minor, currency)))
