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

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass

from duely.sandbox.clock import SandboxClock
from duely.sandbox.quickbooks.identity import App, Identity
from duely.sandbox.quickbooks.representations import timestamp
from duely.sandbox.quickbooks.store import Change
from duely.sandbox.webhook_delivery import BatchedWebhooks, WebhookSettings

__all__ = ["Delivery", "WebhookSettings", "Webhooks", "sign"]

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


class Webhooks(BatchedWebhooks[App, _Event, Delivery]):
    SIGNATURE_HEADER = SIGNATURE_HEADER

    def __init__(
        self, identity: Identity, clock: SandboxClock, settings: WebhookSettings | None = None
    ) -> None:
        super().__init__(identity, settings)
        self.identity = identity
        self.clock = clock

    def on_change(self, change: Change) -> None:
        """Store listener: queue the change for every app connected to its realm."""
        when = timestamp(self.clock.now()).replace("+00:00", "Z")
        for app in self.identity.connected_apps(change.realm_id):
            if app.webhook_url:
                self._queue(app.client_id, _Event(change, when))

    def _delivery(self, app: App, events: list[_Event]) -> Delivery:
        if app.webhook_format == "cloudevents":
            payload: object = cloudevents_payload(events)
        else:
            payload = legacy_payload(events)
        return Delivery(
            id=uuid.uuid4().hex,
            client_id=app.client_id,
            url=app.webhook_url,
            body=json.dumps(payload, separators=(",", ":")),
            shape=app.webhook_format,
            event_count=len(events),
        )

    def _signature(self, app: App, body: bytes) -> str:
        return sign(body, app.verifier_token)
