"""Xero's rate limits, per app and tenant, in real (monotonic) time.

Per tenant (that is, per app and organisation): 5 calls in flight, 60 in a rolling minute,
5,000 in a rolling day; per app: 10,000 a minute across all its tenants. Every answer says
what is left (X-MinLimit-Remaining, X-DayLimit-Remaining, X-AppMinLimit-Remaining); a call
over a limit gets 429 with Retry-After and X-Rate-Limit-Problem. Only admitted calls count.
The limits stay on unless the admin API changes them: a benchmark against a sandbox without
Xero's limits measures nothing (DESIGN section 6).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from duely.sandbox.rate_windows import DAY, MINUTE, RollingLimiter, forget_before


@dataclass
class RateLimits:
    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000
    enabled: bool = True

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class Admission:
    """The verdict on one call: admitted or not, and the headers its answer carries."""

    admitted: bool
    headers: dict[str, str]
    problem: str = ""
    retry_after: int = 0
    key: tuple[str, str] | None = None


@dataclass
class _Window:
    minute: deque = field(default_factory=deque)
    day: deque = field(default_factory=deque)
    in_flight: int = 0


class RateLimiter(RollingLimiter[RateLimits]):
    """`refused` counts per problem: minute, day, concurrent, appminute."""

    def __init__(
        self, limits: RateLimits | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limits or RateLimits(), monotonic)
        self._tenants: dict[tuple[str, str], _Window] = defaultdict(_Window)
        self._apps: dict[str, deque] = defaultdict(deque)

    def _forget_calls(self) -> None:
        self._tenants.clear()
        self._apps.clear()

    def admit(self, client_id: str, tenant_id: str | None) -> Admission:
        """Count a call for the app (and tenant, if any); call `release` when it ends."""
        now = self.monotonic()
        limits = self.limits
        app_calls = self._apps[client_id]
        forget_before(app_calls, now - MINUTE)
        window = None
        if tenant_id is not None:
            window = self._tenants[(client_id, tenant_id)]
            forget_before(window.minute, now - MINUTE)
            forget_before(window.day, now - DAY)
        problem, retry_after = self._problem(now, app_calls, window)
        if problem and limits.enabled:
            self.refused[problem] += 1
            return Admission(False, self._headers(app_calls, window), problem, max(retry_after, 1))
        app_calls.append(now)
        key = None
        if window is not None:
            window.minute.append(now)
            window.day.append(now)
            window.in_flight += 1
            key = (client_id, tenant_id)
        return Admission(True, self._headers(app_calls, window), key=key)

    def release(self, admission: Admission) -> None:
        if admission.key is not None:
            self._tenants[admission.key].in_flight -= 1

    def _problem(self, now: float, app_calls: deque, window: _Window | None) -> tuple[str, int]:
        limits = self.limits
        if window is not None:
            if len(window.day) >= limits.per_day:
                return "day", math.ceil(window.day[0] + DAY - now)
            if len(window.minute) >= limits.per_minute:
                return "minute", math.ceil(window.minute[0] + MINUTE - now)
        if len(app_calls) >= limits.app_per_minute:
            return "appminute", math.ceil(app_calls[0] + MINUTE - now)
        if window is not None and window.in_flight >= limits.concurrent:
            return "concurrent", 1
        return "", 0

    def _headers(self, app_calls: deque, window: _Window | None) -> dict[str, str]:
        limits = self.limits
        headers = {"X-AppMinLimit-Remaining": str(max(limits.app_per_minute - len(app_calls), 0))}
        if window is not None:
            headers["X-MinLimit-Remaining"] = str(max(limits.per_minute - len(window.minute), 0))
            headers["X-DayLimit-Remaining"] = str(max(limits.per_day - len(window.day), 0))
        return headers
