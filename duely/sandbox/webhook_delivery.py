"""Webhook delivery as the ledger sandboxes share it: changes queued per app, gathered for a
short batching delay, POSTed as one signed body, and retried with doubling backoff while the
receiver answers anything but 2xx, until `max_attempts` marks the delivery failed.

Each service's webhooks module says who hears of a change, what a batch's body looks like
(Xero's sequenced events, Intuit's eventNotifications or CloudEvents), what a delivery record
holds, and which header carries the signature with which key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import httpx

log = logging.getLogger(__name__)


@dataclass
class WebhookSettings:
    batch_delay: float = 0.2
    max_attempts: int = 6
    first_backoff: float = 0.5
    timeout: float = 5.0


class WebhookApp(Protocol):
    client_id: str
    webhook_url: str


class Delivery(Protocol):
    """What the retry loop reads and records on a service's delivery record."""

    url: str
    body: str
    status: str  # pending, delivered, failed
    attempts: int
    last_status_code: int | None
    last_error: str


AppT = TypeVar("AppT", bound=WebhookApp)
AppT_co = TypeVar("AppT_co", bound=WebhookApp, covariant=True)
EventT = TypeVar("EventT")
DeliveryT = TypeVar("DeliveryT", bound=Delivery)


class AppDirectory(Protocol[AppT_co]):
    """Where apps are looked up when a batch is sent (the service's identity)."""

    def app(self, client_id: str) -> AppT_co | None: ...


async def post_signed(
    client: httpx.AsyncClient, url: str, body: bytes, signature_header: str, signature: str
) -> int | str:
    """The receiver's status code, or the network error's text."""
    try:
        response = await client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", signature_header: signature},
        )
    except httpx.HTTPError as error:
        log.info("webhook to %s failed: %s", url, error)
        return f"{type(error).__name__}: {error}"
    return response.status_code


class BatchedWebhooks(Generic[AppT, EventT, DeliveryT]):
    """The queue and the sender. A subclass queues events from its store listener with
    `_queue` and says how a batch becomes a delivery (`_delivery`) and how it is signed."""

    SIGNATURE_HEADER = ""

    def __init__(self, apps: AppDirectory[AppT], settings: WebhookSettings | None) -> None:
        self._apps = apps
        self.settings = settings or WebhookSettings()
        self.deliveries: list[DeliveryT] = []
        self._pending: dict[str, list[EventT]] = {}
        self._flushers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()

    def _delivery(self, app: AppT, events: list[EventT]) -> DeliveryT:
        """The batch as a delivery record (kept in `deliveries`), its body ready to send."""
        raise NotImplementedError

    def _signature(self, app: AppT, body: bytes) -> str:
        raise NotImplementedError

    # --- queueing ------------------------------------------------------------------------

    def _queue(self, client_id: str, event: EventT) -> None:
        self._pending.setdefault(client_id, []).append(event)
        self._schedule_flush(client_id)

    def _schedule_flush(self, client_id: str) -> None:
        if client_id in self._flushers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no server running (seeding, plain scripts): events wait for one
        self._flushers[client_id] = loop.create_task(self._flush_later(client_id))

    def flush_pending(self) -> None:
        """Start deliveries for events queued while no event loop was running."""
        for client_id in list(self._pending):
            self._schedule_flush(client_id)

    async def _flush_later(self, client_id: str) -> None:
        try:
            await asyncio.sleep(self.settings.batch_delay)
        finally:
            self._flushers.pop(client_id, None)
        events = self._pending.pop(client_id, [])
        app = self._apps.app(client_id)
        if events and app is not None and app.webhook_url:
            delivery = self._delivery(app, events)
            self.deliveries.append(delivery)
            task = asyncio.get_running_loop().create_task(self._deliver(app, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- sending -------------------------------------------------------------------------

    async def _deliver(self, app: AppT, delivery: DeliveryT) -> None:
        backoff = self.settings.first_backoff
        body = delivery.body.encode()
        signature = self._signature(app, body)
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            while delivery.attempts < self.settings.max_attempts:
                delivery.attempts += 1
                status = await post_signed(
                    client, delivery.url, body, self.SIGNATURE_HEADER, signature
                )
                if isinstance(status, int):
                    delivery.last_status_code = status
                    if 200 <= status < 300:
                        delivery.status = "delivered"
                        return
                else:
                    delivery.last_error = status
                await asyncio.sleep(backoff)
                backoff *= 2
        delivery.status = "failed"

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until queued events have been delivered or given up (for tests and demos).

        Polls: the delivery tasks may run on another event loop (a test client's portal)."""
        async with asyncio.timeout(within):
            while self._flushers or self._tasks or self._pending:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        for task in [*self._flushers.values(), *self._tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._flushers.clear()
        self._tasks.clear()
