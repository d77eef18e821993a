"""How ledger errors become Temporal activity failures."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from duely.integrations.ledgers.base import (
    LedgerAuthError,
    LedgerError,
    LedgerRateLimited,
    LedgerRejected,
)


def as_application_error(error: LedgerError) -> ApplicationError:
    """Business refusals and lost grants stop retrying; the rest retries, after Retry-After
    when the ledger named one."""
    if isinstance(error, LedgerRateLimited):
        return ApplicationError(
            str(error),
            type=type(error).__name__,
            next_retry_delay=timedelta(seconds=error.retry_after),
        )
    return ApplicationError(
        str(error),
        type=type(error).__name__,
        non_retryable=isinstance(error, LedgerAuthError | LedgerRejected),
    )
