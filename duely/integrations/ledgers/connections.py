"""From a Connection row to a working Ledger: decrypted tokens, shared pacing, one refresher.

`Ledgers` is built once per process (worker, web) and shared, so every caller in the process
uses the same rate limiter per tenant and the same refresh lock per connection.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlmodel import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.accountsiq.api import AccountsIQLedger
from duely.integrations.ledgers.accountsiq.service import AccountsIQService, Credentials
from duely.integrations.ledgers.base import Ledger, LedgerAuthError
from duely.integrations.ledgers.oauth_tokens import OAuthTokens, Refresher, TokenKeeper
from duely.integrations.ledgers.quickbooks.api import QuickBooksLedger
from duely.integrations.ledgers.quickbooks.oauth import QuickBooksEndpoints, QuickBooksOAuth
from duely.integrations.ledgers.rate_limit import TenantRateLimiter
from duely.integrations.ledgers.spreadsheet import SpreadsheetLedger
from duely.integrations.ledgers.xero.api import XeroLedger
from duely.integrations.ledgers.xero.oauth import XeroEndpoints, XeroOAuth
from duely.models import Connection, ConnectionStatus, Provider, saved_id, utcnow
from duely.settings import Settings


def store_tokens(connection: Connection, tokens: OAuthTokens, box: SecretBox) -> None:
    connection.access_token_encrypted = box.encrypt(tokens.access_token)
    connection.refresh_token_encrypted = box.encrypt(tokens.refresh_token)
    connection.token_expires_at = tokens.expires_at


def read_tokens(connection: Connection, box: SecretBox) -> OAuthTokens:
    return OAuthTokens(
        box.decrypt(connection.access_token_encrypted),
        box.decrypt(connection.refresh_token_encrypted),
        connection.token_expires_at,
    )


async def save_connection(
    session: AsyncSession,
    box: SecretBox,
    *,
    organisation_id: int,
    provider: Provider,
    tenant_id: str,
    tenant_name: str,
    tokens: OAuthTokens,
    region: str = "",
) -> Connection:
    """Create the connection, or bring a dead one back to life with the new grant."""
    connection = (
        await session.exec(
            select(Connection).where(
                Connection.organisation_id == organisation_id,
                Connection.provider == provider,
                Connection.external_tenant_id == tenant_id,
            )
        )
    ).first() or Connection(
        organisation_id=organisation_id, provider=provider, external_tenant_id=tenant_id
    )
    connection.tenant_name = tenant_name
    connection.region = region or connection.region
    connection.status = ConnectionStatus.CONNECTED
    connection.last_error = ""
    store_tokens(connection, tokens, box)
    session.add(connection)
    await session.commit()
    return connection


@dataclass
class _HeldTokens:
    tokens: OAuthTokens
    connection: Connection
    session: AsyncSession
    box: SecretBox

    async def save(self, tokens: OAuthTokens) -> None:
        store_tokens(self.connection, tokens, self.box)
        self.session.add(self.connection)
        self.tokens = tokens


class DatabaseTokenStore:
    def __init__(self, db: Database, box: SecretBox, connection_id: int) -> None:
        self._db = db
        self._box = box
        self._connection_id = connection_id

    async def load(self) -> OAuthTokens:
        async with self._db.session() as session:
            connection = await session.get(Connection, self._connection_id)
            return read_tokens(connection, self._box)

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[_HeldTokens]:
        async with self._db.session() as session:
            # Writing the row first takes its lock (PostgreSQL: the row; SQLite: the database),
            # so another process's refresh waits here and then sees our new tokens.
            await session.exec(
                update(Connection)
                .where(Connection.id == self._connection_id)
                .values(tokens_refreshed_at=utcnow())
            )
            connection = await session.get(Connection, self._connection_id, populate_existing=True)
            held = _HeldTokens(read_tokens(connection, self._box), connection, session, self._box)
            yield held
            await session.commit()

    async def mark_needs_reconnect(self, reason: str) -> None:
        async with self._db.session() as session:
            connection = await session.get(Connection, self._connection_id)
            connection.status = ConnectionStatus.NEEDS_RECONNECT
            connection.last_error = reason
            await session.commit()


class Ledgers:
    def __init__(
        self, settings: Settings, db: Database, http: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self.box = SecretBox(settings.resolved_secret_key)
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10))
        self._limiters: dict[str, TenantRateLimiter] = {}
        self._quickbooks_home_currencies: dict[str, str] = {}
        self._refresh_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.xero_oauth = XeroOAuth(
            XeroEndpoints(
                settings.xero_login_url, settings.xero_identity_url, settings.xero_api_url
            ),
            settings.xero_client_id,
            settings.xero_client_secret,
        )
        self.accountsiq = AccountsIQService(
            self._http, settings.accountsiq_url, settings.accountsiq_partner_key
        )
        self.quickbooks_oauth = QuickBooksOAuth(
            QuickBooksEndpoints(
                settings.quickbooks_auth_url,
                settings.quickbooks_token_url,
                settings.quickbooks_revoke_url,
                settings.quickbooks_api_url,
            ),
            settings.quickbooks_client_id,
            settings.quickbooks_client_secret,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The process's outbound HTTP client (connection pooling), shared with the SMS client."""
        return self._http

    def limiter(self, tenant_id: str, provider: str = Provider.XERO) -> TenantRateLimiter:
        """One per ledger tenant in this process, at that ledger's pace."""
        key = f"{provider}:{tenant_id}"
        if key not in self._limiters:
            settings = self._settings
            pace = {
                Provider.QUICKBOOKS: (
                    settings.quickbooks_calls_per_minute,
                    settings.quickbooks_concurrent_calls,
                ),
                Provider.ACCOUNTSIQ: (
                    settings.accountsiq_calls_per_minute,
                    settings.accountsiq_concurrent_calls,
                ),
            }.get(provider, (settings.xero_calls_per_minute, settings.xero_concurrent_calls))
            self._limiters[key] = TenantRateLimiter(*pace)
        return self._limiters[key]

    def open(self, connection: Connection) -> Ledger:
        """The Ledger of a connection; refuses one that needs a person to reconnect it."""
        if connection.status == ConnectionStatus.NEEDS_RECONNECT:
            raise LedgerAuthError(connection.last_error or "the connection needs reconnecting")
        tenant = connection.external_tenant_id
        if connection.provider == Provider.XERO:
            return XeroLedger(
                self._http,
                self.xero_oauth.endpoints.accounting,
                tenant,
                self._keeper(connection, self.xero_oauth.refresh),
                self.limiter(tenant),
            )
        if connection.provider == Provider.QUICKBOOKS:
            return QuickBooksLedger(
                self._http,
                self.quickbooks_oauth.endpoints.api,
                tenant,
                self._keeper(connection, self.quickbooks_oauth.refresh),
                self.limiter(tenant, Provider.QUICKBOOKS),
                throttle_seconds=self._settings.quickbooks_throttle_seconds,
                home_currencies=self._quickbooks_home_currencies,
            )
        if connection.provider == Provider.ACCOUNTSIQ:
            location = connection.region

            async def new_session(user_key: str) -> OAuthTokens:
                credentials = Credentials(tenant, user_key, location)
                return await self.accountsiq.login(credentials)

            return AccountsIQLedger(
                self.accountsiq,
                location,
                tenant,
                self._keeper(connection, new_session),
                self.limiter(tenant, Provider.ACCOUNTSIQ),
            )
        if connection.provider == Provider.CSV:
            return SpreadsheetLedger(
                self._db, saved_id(connection), connection.organisation_id, connection.tenant_name
            )
        raise NotImplementedError(f"no ledger client for {connection.provider} yet")

    def _keeper(self, connection: Connection, refresh: Refresher) -> TokenKeeper:
        """The connection's tokens, refreshed by one caller at a time in every process."""
        return TokenKeeper(
            DatabaseTokenStore(self._db, self.box, saved_id(connection)),
            refresh,
            self._refresh_locks[saved_id(connection)],
        )

    async def aclose(self) -> None:
        await self._http.aclose()
