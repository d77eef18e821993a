"""The sandbox clock: real UTC time plus an offset the admin API can advance.

Shared by the ledger sandboxes (Xero, QuickBooks). Everything a sandbox dates (token expiry,
UpdatedDateUTC or LastUpdatedTime, idempotency retention, code expiry) reads this clock, so a
test can jump a month ahead without waiting. Rate limits are the exception: they are measured
in real monotonic time, like the real services'.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


class SandboxClock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> datetime:
        """Now in UTC, to the millisecond (the precision of Xero's /Date(...)/ stamps)."""
        moment = datetime.now(UTC) + timedelta(seconds=self.offset_seconds)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def today(self) -> date:
        return self.now().date()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset_seconds += seconds
        return self.now()
