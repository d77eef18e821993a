"""The options workflows schedule activities with, typed.

`workflow.execute_activity_method(..., **QUICK)` takes its timeouts and retry policy as keyword
arguments; a TypedDict of them (not a plain dict) lets the type checker match the call to the
SDK's overloads, and so check the activity's argument and result types too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class ActivityTimeouts(TypedDict, total=False):
    """The timeout keyword arguments of `workflow.execute_activity_method`."""

    schedule_to_close_timeout: timedelta
    schedule_to_start_timeout: timedelta
    start_to_close_timeout: timedelta
    heartbeat_timeout: timedelta


class ActivityOptions(ActivityTimeouts, total=False):
    """The timeouts and the retry policy."""

    retry_policy: RetryPolicy
