"""The one way duely connects to Temporal, shared by web, worker and CLI."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client

from duely.core.temporal.codec import data_converter
from duely.settings import Settings

log = logging.getLogger(__name__)


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """Payloads are encrypted with the secret key's codec (duely.core.temporal.codec); a worker
    built on this client (duely.worker.build_worker) uses the client's converter too."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        lazy=lazy,
        data_converter=data_converter(settings.resolved_secret_key),
    )


async def connect_with_retry(settings: Settings, *, attempts: int = 60) -> Client:
    """Wait for the server to come up (the worker may start before Temporal in `duely up`)."""
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings)
        except RuntimeError as error:
            if attempt == attempts:
                raise
            log.warning(
                "Temporal at %s not reachable yet (%s); retrying", settings.temporal_address, error
            )
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


class TemporalConnection:
    """The web app's Temporal client, connected on first use and again after a failure.

    The web app must serve pages (and report the outage on /healthz) while Temporal is down,
    so a failed connect is not fatal: the next caller simply tries again.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client
