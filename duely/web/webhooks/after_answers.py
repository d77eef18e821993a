"""What a webhook leaves for after its answer (handing a payment to its invoice's chase,
asking for a sync) waits until no webhook is being answered, then runs a few at a time.

In a storm (a payout run, 200 card payments at once) the follow-up work would otherwise run
beside the answers still to give: py-spy of the web process in the storm benchmark found the
dispatches taking a third of its CPU while later webhooks waited for theirs. Senders retry
what they do not hear back about in time; the follow-up work can wait a moment. A steady
stream of webhooks never starves it: it waits at most `patience` seconds for a quiet moment.
Only Stripe's webhook counts as an answer in flight (the ledgers' webhooks are one batch at a
time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

AT_ONCE = 4
"""Follow-up tasks running at once in a web app."""
PATIENCE_SECONDS = 5.0


class AfterAnswers:
    """One per web app (made in its event loop, at start-up)."""

    def __init__(self, at_once: int = AT_ONCE, patience: float = PATIENCE_SECONDS) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._answering = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.patience = patience

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around a webhook's answer: follow-up work waits while any is open."""
        self._answering += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if not self._answering:
                self._quiet.set()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Around a piece of follow-up work: after the answers in flight, a few at a time."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.patience):
                await self._quiet.wait()
        async with self._slots:
            yield
