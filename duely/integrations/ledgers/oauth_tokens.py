"""OAuth tokens of one connection, refreshed by exactly one caller at a time.

Refresh tokens rotate (Xero: every refresh returns a new one and retires the old), so two
callers refreshing at once is how connections die. Callers in one process queue on an asyncio
lock; across processes the store's `locked()` serialises on the database row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from duely.integrations.ledgers.base import LedgerAuthError

# Refresh a little before expiry, so a token never dies in flight.
EXPIRY_MARGIN = timedelta(seconds=120)


@dataclass(frozen=True)
class OAuthTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime

    def usable(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) + EXPIRY_MARGIN < self.expires_at


class LockedTokens(Protocol):
    tokens: OAuthTokens

    async def save(self, tokens: OAuthTokens) -> None: ...


class TokenStore(Protocol):
    async def load(self) -> OAuthTokens: ...

    def locked(self) -> AbstractAsyncContextManager[LockedTokens]:
        """Hold the connection's tokens exclusively (across processes) until exit."""
        ...

    async def mark_needs_reconnect(self, reason: str) -> None: ...


Refresher = Callable[[str], Awaitable[OAuthTokens]]


class TokenKeeper:
    def __init__(self, store: TokenStore, refresh: Refresher, lock: asyncio.Lock) -> None:
        self._store = store
        self._refresh = refresh
        self._lock = lock
        self.refreshes = 0
        """How many refreshes this keeper performed (observability and tests)."""

    async def access_token(self) -> str:
        tokens = await self._store.load()
        if tokens.usable():
            return tokens.access_token
        return await self._refresh_unless(lambda current: current.usable())

    async def replace_rejected(self, rejected_access_token: str) -> str:
        """The provider said 401 to this token: refresh, unless someone already did."""
        return await self._refresh_unless(
            lambda current: current.access_token != rejected_access_token and current.usable()
        )

    async def _refresh_unless(self, still_good: Callable[[OAuthTokens], bool]) -> str:
        try:
            async with self._lock, self._store.locked() as held:
                if still_good(held.tokens):
                    return held.tokens.access_token
                fresh = await self._refresh(held.tokens.refresh_token)
                await held.save(fresh)
                self.refreshes += 1
                return fresh.access_token
        except LedgerAuthError as error:
            # Outside the lock: marking the connection is a write of its own.
            await self._store.mark_needs_reconnect(str(error))
            raise
