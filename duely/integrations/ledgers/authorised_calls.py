"""One call to an OAuth ledger's API, as every ledger client makes it: paced by the tenant's
limiter, its access token refreshed once when the ledger says it expired, 429s waited out, and
the answer turned into duely's errors (ledgers/base.py). Each client says only what is its
own: how to send, how long a 429 asks to wait, and how the ledger words an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from duely.integrations.ledgers.base import (
    LedgerAuthError,
    LedgerRateLimited,
    LedgerRejected,
    LedgerUnavailable,
)
from duely.integrations.ledgers.oauth_tokens import TokenKeeper
from duely.integrations.ledgers.rate_limit import TenantRateLimiter

LONGEST_WAIT_SECONDS = 120.0
"""A 429 asking for longer is not waited out inside the call: the caller (an activity) retries
later instead of holding a worker slot."""


@dataclass(frozen=True)
class Throttle:
    seconds: float
    problem: str = "rate limit"
    """What the ledger says was exceeded (Xero names its minute, day or app limit)."""


@dataclass(frozen=True)
class LedgerWays:
    """What differs from one ledger to the next."""

    name: str
    """As people know it: "Xero", "QuickBooks"."""
    throttle: Callable[[httpx.Response], Throttle]
    """How long a 429 asks to wait."""
    error_message: Callable[[httpx.Response], str]
    observe: Callable[[httpx.Response], None] = lambda response: None
    """Reads what every answer says of the budget left (Xero's X-MinLimit-Remaining)."""
    most_tries: int = 10


async def authorised_call(
    ways: LedgerWays,
    tokens: TokenKeeper,
    limiter: TenantRateLimiter,
    send: Callable[[str], Awaitable[httpx.Response]],
) -> httpx.Response:
    """`send(access_token)` until the ledger answers something other than a 429 or a first
    401; its answer when it succeeded, else the LedgerError it amounts to."""
    token = await tokens.access_token()
    refreshed = False
    for _ in range(ways.most_tries):
        async with limiter.slot():
            try:
                response = await send(token)
            except httpx.TransportError as error:
                raise LedgerUnavailable(f"{ways.name} unreachable: {error!r}") from error
        ways.observe(response)
        if response.status_code == 429:
            throttle = ways.throttle(response)
            if throttle.seconds > LONGEST_WAIT_SECONDS:
                raise LedgerRateLimited(f"{ways.name} {throttle.problem} reached", throttle.seconds)
            limiter.pause(throttle.seconds)
            continue
        if response.status_code == 401 and not refreshed:
            token = await tokens.replace_rejected(token)
            refreshed = True
            continue
        if response.status_code in (401, 403):
            raise LedgerAuthError(f"{ways.name} refused access: {ways.error_message(response)}")
        if response.status_code >= 500:
            raise LedgerUnavailable(f"{ways.name} answered {response.status_code}")
        if response.status_code >= 400:
            raise LedgerRejected(ways.error_message(response))
        return response
    raise LedgerRateLimited(f"{ways.name} kept answering 429", LONGEST_WAIT_SECONDS)
