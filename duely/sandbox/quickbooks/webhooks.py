"""QuickBooks webhooks: signed notifications of changes POSTed to each connected app.

Changes are gathered per app for a short batching delay and sent with `intuit-signature` =
base64(HMAC-SHA256(raw body, the app's verifier token)), in the shape the app registered for:

- legacy: `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name",
  "id", "operation", "lastUpdated"}]}}]}`, one notification per realm
- cloudevents: `[{"specversion": "1.0", "id", "source", "type": "qbo.invoice.updated.v1",
  "datacontenttype", "time", "intuitentityid", "intuitaccountid", "data": {}}, ...]`

A delivery is retried with backoff while the receiver answers anything but 2xx, and marked
failed after `max_attempts`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import asdict, dataclass

import httpx

from duely.sandbox.clock import SandboxClock
from duely.sandbox.quickbooks.identity import App, Identity
from duely.sandbox.quickbooks.representations import timestamp
from duely.sandbox.quickbooks.store import Change

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "intuit-signature"
CLOUDEVENT_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",
}


def sign(body: bytes, verifier_token: str) -> str:
    """The intuit-signature of a raw body."""
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Delivery:
    id: str
    client_id: str
    url: str
    body: str
    shape: str  # legacy, cloudevents
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
class _Event:
    change: Change
    when: str


def legacy_payload(events: list[_Event]) -> dict:
    realms: dict[str, list[dict]] = {}
    for event in events:
        realms.setdefault(event.change.realm_id, []).append(
            {
                "name": event.change.entity,
                "id": event.change.entity_id,
                "operation": event.change.operation,
                "lastUpdated": event.when,
            }
        )
    return {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": entities}}
            for realm, entities in realms.items()
        ]
    }


def cloudevents_payload(events: list[_Event]) -> list[dict]:
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.qbo",
            "type": (
                f"qbo.{event.change.entity.lower()}."
                f"{CLOUDEVENT_VERBS.get(event.change.operation, 'updated')}.v1"
            ),
            "datacontenttype": "application/json",
            "time": event.when,
            "intuitentityid": event.change.entity_id,
            "intuitaccountid": event.change.realm_id,
            "data": {},
        }
        for event in events
    ]


class Webhooks:
    def __init__(
        self, identity: Identity, clock: SandboxClock, settings: WebhookSettings | None = None
    ) -> None:
        self.identity = identity
        self.clock = clock
        self.settings = settings or WebhookSettings()
        self.deliveries: list[Delivery] = []
        self._pending: dict[str, list[_Event]] = {}
        self._flushers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()

    def on_change(self, change: Change) -> None:
        """Store listener: queue the change for every app connected to its realm."""
        when = timestamp(self.clock.now()).replace("+00:00", "Z")
        for app in self.identity.connected_apps(change.realm_id):
            if not app.webhook_url:
                continue
            self._pending.setdefault(app.client_id, []).append(_Event(change, when))
            self._schedule_flush(app.client_id)

    def _schedule_flush(self, client_id: str) -> None:
        if client_id in self._flushers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no server running (seeding, scripts): events wait for one
        self._flushers[client_id] = loop.create_task(self._flush_later(client_id))

    def flush_pending(self) -> None:
        for client_id in list(self._pending):
            self._schedule_flush(client_id)

    async def _flush_later(self, client_id: str) -> None:
        try:
            await asyncio.sleep(self.settings.batch_delay)
        finally:
            self._flushers.pop(client_id, None)
        events = self._pending.pop(client_id, [])
        app = self.identity.app(client_id)
        if events and app is not None and app.webhook_url:
            delivery = self._delivery(app, events)
            task = asyncio.get_running_loop().create_task(self._deliver(app, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _delivery(self, app: App, events: list[_Event]) -> Delivery:
        if app.webhook_format == "cloudevents":
            payload: object = cloudevents_payload(events)
        else:
            payload = legacy_payload(events)
        delivery = Delivery(
            id=uuid.uuid4().hex,
            client_id=app.client_id,
            url=app.webhook_url,
            body=json.dumps(payload, separators=(",", ":")),
            shape=app.webhook_format,
            event_count=len(events),
        )
        self.deliveries.append(delivery)
        return delivery

    async def _deliver(self, app: App, delivery: Delivery) -> None:
        backoff = self.settings.first_backoff
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, app.verifier_token),
        }
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            while delivery.attempts < self.settings.max_attempts:
                delivery.attempts += 1
                try:
                    response = await client.post(delivery.url, content=body, headers=headers)
                except httpx.HTTPError as error:
                    delivery.last_error = f"{type(error).__name__}: {error}"
                    log.info("webhook to %s failed: %s", delivery.url, error)
                else:
                    delivery.last_status_code = response.status_code
                    if 200 <= response.status_code < 300:
                        delivery.status = "delivered"
                        return
                await asyncio.sleep(backoff)
                backoff *= 2
        delivery.status = "failed"

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until queued events have been delivered or given up (tests and demos)."""
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
