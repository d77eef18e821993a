"""Xero webhooks: signed batches of change events POSTed to each app's delivery URL.

Changes are queued per app (for the tenants it is connected to), gathered for a short
batching delay, sent as `{"events": [...], "firstEventSequence", "lastEventSequence",
"entropy"}` with `x-xero-signature` = base64(HMAC-SHA256(raw body, webhook key)), and
retried with backoff while the receiver answers anything but 2xx. Xero retries for a day and
then disables the webhook; the sandbox gives up after `max_attempts` and marks the delivery
failed. "Intent to receive" posts the empty payload once signed and once wrongly signed and
expects 200 then 401.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import string
import uuid
from dataclasses import asdict, dataclass, field

import httpx

from duely.sandbox.xero.clock import SandboxClock
from duely.sandbox.xero.dates import webhook_timestamp
from duely.sandbox.xero.identity import App, Identity
from duely.sandbox.xero.store import Change

log = logging.getLogger(__name__)

RESOURCE_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def sign(body: bytes, key: str) -> str:
    """The x-xero-signature of a raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _entropy() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=20))  # noqa: S311 - not a secret


@dataclass
class Delivery:
    id: str
    client_id: str
    url: str
    body: str
    first_sequence: int
    last_sequence: int
    event_count: int
    status: str = "pending"  # pending, delivered, failed
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str = ""

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class WebhookSettings:
    batch_delay: float = 0.2
    max_attempts: int = 6
    first_backoff: float = 0.5
    timeout: float = 5.0


@dataclass
class _Pending:
    events: list[dict] = field(default_factory=list)


class Webhooks:
    def __init__(
        self,
        identity: Identity,
        clock: SandboxClock,
        api_base_url: str,
        settings: WebhookSettings | None = None,
    ) -> None:
        self.identity = identity
        self.clock = clock
        self.api_base_url = api_base_url.rstrip("/")
        self.settings = settings or WebhookSettings()
        self.deliveries: list[Delivery] = []
        self.sequences: dict[str, int] = {}
        self._pending: dict[str, list[dict]] = {}
        self._flushers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()

    # --- queueing ------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Store listener: queue an event for every app connected to the changed tenant."""
        when = webhook_timestamp(self.clock.now())
        for app in self.identity.state.apps.values():
            if not app.webhook_url or not self.identity.is_connected(
                app.client_id, change.tenant_id
            ):
                continue
            path = RESOURCE_PATHS[change.category]
            self._pending.setdefault(app.client_id, []).append(
                {
                    "resourceUrl": f"{self.api_base_url}/api.xro/2.0/{path}/{change.resource_id}",
                    "resourceId": change.resource_id,
                    "eventDateUtc": when,
                    "eventType": change.event_type,
                    "eventCategory": change.category,
                    "tenantId": change.tenant_id,
                    "tenantType": "ORGANISATION",
                }
            )
            self._schedule_flush(app.client_id)

    def _schedule_flush(self, client_id: str) -> None:
        if client_id in self._flushers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no server running (seeding, plain scripts): events wait for one
        task = loop.create_task(self._flush_later(client_id))
        self._flushers[client_id] = task

    async def _flush_later(self, client_id: str) -> None:
        try:
            await asyncio.sleep(self.settings.batch_delay)
        finally:
            self._flushers.pop(client_id, None)
        events = self._pending.pop(client_id, [])
        app = self.identity.app(client_id)
        if events and app is not None and app.webhook_url:
            delivery = self._batch(app, events)
            task = asyncio.get_running_loop().create_task(self._deliver(app, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def flush_pending(self) -> None:
        """Start deliveries for events queued while no event loop was running."""
        for client_id in list(self._pending):
            self._schedule_flush(client_id)

    def _batch(self, app: App, events: list[dict]) -> Delivery:
        first = self.sequences.get(app.client_id, 0) + 1
        last = first + len(events) - 1
        self.sequences[app.client_id] = last
        payload = {
            "events": events,
            "firstEventSequence": first,
            "lastEventSequence": last,
            "entropy": _entropy(),
        }
        delivery = Delivery(
            id=uuid.uuid4().hex,
            client_id=app.client_id,
            url=app.webhook_url,
            body=json.dumps(payload, separators=(",", ":")),
            first_sequence=first,
            last_sequence=last,
            event_count=len(events),
        )
        self.deliveries.append(delivery)
        return delivery

    # --- sending -------------------------------------------------------------------------

    async def _deliver(self, app: App, delivery: Delivery) -> None:
        backoff = self.settings.first_backoff
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            while delivery.attempts < self.settings.max_attempts:
                delivery.attempts += 1
                status = await self._post(client, delivery.url, delivery.body.encode(), app)
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

    @staticmethod
    async def _post(client: httpx.AsyncClient, url: str, body: bytes, app: App) -> int | str:
        return await _post_signed(client, url, body, sign(body, app.webhook_key))

    async def intent_to_receive(self, client_id: str) -> dict:
        """Xero's check of a new webhook: the empty payload signed right must get 200, signed
        wrong must get 401. Returns both answers and whether the receiver passed."""
        app = self.identity.app(client_id)
        if app is None or not app.webhook_url:
            raise LookupError("the app has no webhook URL")
        payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0}
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            body = json.dumps({**payload, "entropy": _entropy()}).encode()
            good = await _post_signed(client, app.webhook_url, body, sign(body, app.webhook_key))
            body = json.dumps({**payload, "entropy": _entropy()}).encode()
            wrong_key = app.webhook_key + "-not-the-key"
            bad = await _post_signed(client, app.webhook_url, body, sign(body, wrong_key))
        return {
            "url": app.webhook_url,
            "correctly_signed_status": good,
            "wrongly_signed_status": bad,
            "passed": good == 200 and bad == 401,
        }

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


async def _post_signed(
    client: httpx.AsyncClient, url: str, body: bytes, signature: str
) -> int | str:
    """The receiver's status code, or the network error's text."""
    try:
        response = await client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "x-xero-signature": signature},
        )
    except httpx.HTTPError as error:
        log.info("webhook to %s failed: %s", url, error)
        return f"{type(error).__name__}: {error}"
    return response.status_code
