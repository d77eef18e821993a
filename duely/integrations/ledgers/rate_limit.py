"""Client-side pacing that keeps one tenant's calls under the provider's limits.

The limiter is per process; the provider's own counters (response headers, 429 + Retry-After)
correct it when other processes share the same budget.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

WINDOW_SECONDS = 60.0


class TenantRateLimiter:
    def __init__(self, per_minute: int, concurrent: int, window_seconds: float = WINDOW_SECONDS):
        self.per_minute = per_minute
        self._window = window_seconds
        self._in_flight = asyncio.Semaphore(concurrent)
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self.waited_seconds = 0.0
        """Total time callers spent waiting for budget (reported by benchmarks)."""

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._in_flight:
            await self._wait_for_budget()
            yield

    def pause(self, seconds: float) -> None:
        """The provider said stop (429 Retry-After, or no calls left this minute)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def observe(self, minute_remaining: str | None) -> None:
        if minute_remaining is not None and minute_remaining.strip() == "0":
            oldest = self._sent[0] if self._sent else time.monotonic()
            self.pause(max(oldest + self._window - time.monotonic(), 1.0))

    async def _wait_for_budget(self) -> None:
        while True:
            now = time.monotonic()
            while self._sent and self._sent[0] <= now - self._window:
                self._sent.popleft()
            wait = self._paused_until - now
            if len(self._sent) >= self.per_minute:
                wait = max(wait, self._sent[0] + self._window - now)
            if wait <= 0:
                self._sent.append(now)
                return
            self.waited_seconds += wait
            await asyncio.sleep(wait)
