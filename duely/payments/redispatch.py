"""The worker's background round: dispatch Stripe events that were kept while Temporal was
out of reach. Webhooks answer Stripe at once either way, so this is what makes "kept" mean
"not lost"."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client

from duely.core.db import Database
from duely.payments import inbox

log = logging.getLogger(__name__)

EVERY_SECONDS = 15


async def keep_dispatching(db: Database, client: Client, task_queue: str) -> None:
    while True:
        try:
            if done := await inbox.dispatch_kept(db, client, task_queue):
                log.info("dispatched %d kept Stripe event(s)", done)
        except Exception:  # noqa: BLE001 - a bad round must not end the loop
            log.exception("dispatching kept Stripe events failed; trying again shortly")
        await asyncio.sleep(EVERY_SECONDS)
