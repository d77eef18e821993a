"""What the ledger sandboxes' rate limiters share: calls counted in rolling windows of real
(monotonic) time, like the real services' limits, and a tally of the calls turned away.

Each service's ratelimit.py keeps its own limits, windows and verdicts (Xero's headers and
Retry-After, Intuit's ThrottleExceeded with none).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Generic, TypeVar

MINUTE = 60.0
DAY = 86_400.0

LimitsT = TypeVar("LimitsT")


def forget_before(calls: deque[float], before: float) -> None:
    """Drop the calls (their monotonic times, oldest first) made at or before `before`."""
    while calls and calls[0] <= before:
        calls.popleft()


class RollingLimiter(Generic[LimitsT]):
    def __init__(self, limits: LimitsT, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.monotonic = monotonic
        self.refused: Counter[str] = Counter()
        """Calls turned away per problem: a client that keeps under the limits leaves this
        empty."""

    def _forget_calls(self) -> None:
        """Clear the windows the service counts calls in."""
        raise NotImplementedError

    def reset(self) -> None:
        self._forget_calls()
        self.refused.clear()
