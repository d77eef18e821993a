"""QuickBooks Online's throttles, per app and realm, in real (monotonic) time.

500 requests in a rolling minute and 10 in flight per realm (per app); the batch endpoint also
counts against 120 batch calls a minute. A call over a limit is answered 429 with a
ThrottleExceeded fault (QuickBooks sends no Retry-After: its documentation says to wait 60
seconds). Only admitted calls count.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from duely.sandbox.rate_windows import MINUTE, RollingLimiter, forget_before


@dataclass
class RateLimits:
    per_minute: int = 500
    concurrent: int = 10
    batch_per_minute: int = 120
    batch_items: int = 30
    enabled: bool = True

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class _Window:
    minute: deque = field(default_factory=deque)
    batches: deque = field(default_factory=deque)
    in_flight: int = 0


class RateLimiter(RollingLimiter[RateLimits]):
    """`refused` counts per problem: minute, concurrent, batch."""

    def __init__(
        self, limits: RateLimits | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limits or RateLimits(), monotonic)
        self._windows: dict[tuple[str, str], _Window] = defaultdict(_Window)

    def _forget_calls(self) -> None:
        self._windows.clear()

    def admit(self, client_id: str, realm_id: str, batch: bool) -> str:
        """ "" when admitted (call `release` when it ends), else the problem's name."""
        now = self.monotonic()
        window = self._windows[(client_id, realm_id)]
        for calls in (window.minute, window.batches):
            forget_before(calls, now - MINUTE)
        problem = ""
        if len(window.minute) >= self.limits.per_minute:
            problem = "minute"
        elif batch and len(window.batches) >= self.limits.batch_per_minute:
            problem = "batch"
        elif window.in_flight >= self.limits.concurrent:
            problem = "concurrent"
        if problem and self.limits.enabled:
            self.refused[problem] += 1
            return problem
        window.minute.append(now)
        if batch:
            window.batches.append(now)
        window.in_flight += 1
        return ""

    def release(self, client_id: str, realm_id: str) -> None:
        self._windows[(client_id, realm_id)].in_flight -= 1
