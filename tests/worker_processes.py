"""`duely worker` as a process of its own, configured like the test's duely: for the tests that
kill it (SIGKILL mid-write, mid-send, a payment storm) or watch it drain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from duely.settings import Settings

WORKER_SETTINGS = (
    "temporal_address",
    "temporal_namespace",
    "temporal_task_queue",
    "public_url",
    "smtp_url",
    "outbox_gather_seconds",
    "sandbox_port",
    "xero_client_id",
    "xero_client_secret",
    "xero_webhook_key",
    "xero_login_url",
    "xero_identity_url",
    "xero_api_url",
    "xero_calls_per_minute",
    "xero_concurrent_calls",
    "quickbooks_client_id",
    "quickbooks_client_secret",
    "quickbooks_verifier_token",
    "quickbooks_auth_url",
    "quickbooks_token_url",
    "quickbooks_revoke_url",
    "quickbooks_api_url",
    "quickbooks_calls_per_minute",
    "quickbooks_concurrent_calls",
    "quickbooks_throttle_seconds",
    "accountsiq_partner_key",
    "accountsiq_url",
    "accountsiq_calls_per_minute",
    "accountsiq_concurrent_calls",
)
"""What a worker must share with the test's own settings to act on the same world."""


def worker_env(settings: Settings, home: Path, **more: object) -> dict[str, str]:
    """The environment of a worker with `settings` (and `more`, as DUELY_* names), none of the
    test process's own DUELY_* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DUELY_")}
    env["DUELY_HOME"] = str(home)
    env["DUELY_DATABASE_URL"] = settings.resolved_database_url
    env["DUELY_SECRET_KEY"] = settings.resolved_secret_key
    for name in WORKER_SETTINGS:
        env[f"DUELY_{name.upper()}"] = str(getattr(settings, name))
    for name, value in more.items():
        env[f"DUELY_{name.upper()}"] = str(value)
    return env


def worker_process(
    settings: Settings, home: Path, log: Path | None = None, **more: object
) -> subprocess.Popen:
    """Start `duely worker`; its output goes to `log` (nowhere when None)."""
    with log.open("wb") if log else open(os.devnull, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "duely", "worker"],
            env=worker_env(settings, home, **more),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
