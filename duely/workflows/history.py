"""When a long-running workflow continues as new."""

from __future__ import annotations

from temporalio import workflow


def history_is_long(limit: int | None) -> bool:
    """Temporal suggests continuing as new once a history holds thousands of events. `limit`
    (carried in the workflow's start) lets a test, or a recorded replay history, reach that
    moment in a few dozen events; in production it is None."""
    info = workflow.info()
    if info.is_continue_as_new_suggested():
        return True
    return limit is not None and info.get_current_history_length() >= limit
