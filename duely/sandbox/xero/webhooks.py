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

import base64
import hashlib
import hmac
import json
import random
import string
import uuid
from dataclasses import asdict, dataclass

import httpx

from duely.sandbox.clock import SandboxClock
from duely.sandbox.webhook_delivery import BatchedWebhooks, WebhookSettings, post_signed
from duely.sandbox.xero.dates import webhook_timestamp
from duely.sandbox.xero.identity import App, Identity
from duely.sandbox.xero.store import Change

__all__ = ["RESOURCE_PATHS", "Delivery", "WebhookSettings", "Webhooks", "sign"]
SIGNATURE_HEADER = "x-xero-signature"

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


class Webhooks(BatchedWebhooks[App, dict, Delivery]):
    SIGNATURE_HEADER = SIGNATURE_HEADER

    def __init__(
        self,
        identity: Identity,
        clock: SandboxClock,
        api_base_url: str,
        settings: WebhookSettings | None = None,
    ) -> None:
        super().__init__(identity, settings)
        self.identity = identity
        self.clock = clock
        self.api_base_url = api_base_url.rstrip("/")
        self.sequences: dict[str, int] = {}

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
            self._queue(
                app.client_id,
                {
                    "resourceUrl": f"{self.api_base_url}/api.xro/2.0/{path}/{change.resource_id}",
                    "resourceId": change.resource_id,
                    "eventDateUtc": when,
                    "eventType": change.event_type,
                    "eventCategory": change.category,
                    "tenantId": change.tenant_id,
                    "tenantType": "ORGANISATION",
                },
            )

    def _delivery(self, app: App, events: list[dict]) -> Delivery:
        first = self.sequences.get(app.client_id, 0) + 1
        last = first + len(events) - 1
        self.sequences[app.client_id] = last
        payload = {
            "events": events,
            "firstEventSequence": first,
            "lastEventSequence": last,
            "entropy": _entropy(),
        }
        return Delivery(
            id=uuid.uuid4().hex,
            client_id=app.client_id,
            url=app.webhook_url,
            body=json.dumps(payload, separators=(",", ":")),
            first_sequence=first,
            last_sequence=last,
            event_count=len(events),
        )

    def _signature(self, app: App, body: bytes) -> str:
        return sign(body, app.webhook_key)

    # --- sending -------------------------------------------------------------------------

    async def intent_to_receive(self, client_id: str) -> dict:
        """Xero's check of a new webhook: the empty payload signed right must get 200, signed
        wrong must get 401. Returns both answers and whether the receiver passed."""
        app = self.identity.app(client_id)
        if app is None or not app.webhook_url:
            raise LookupError("the app has no webhook URL")
        payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0}
        async with httpx.AsyncClient(timeout=self.settings.timeout) as client:
            body = json.dumps({**payload, "entropy": _entropy()}).encode()
            good = await self._post(client, app.webhook_url, body, app.webhook_key)
            body = json.dumps({**payload, "entropy": _entropy()}).encode()
            wrong_key = app.webhook_key + "-not-the-key"
            bad = await self._post(client, app.webhook_url, body, wrong_key)
        return {
            "url": app.webhook_url,
            "correctly_signed_status": good,
            "wrongly_signed_status": bad,
            "passed": good == 200 and bad == 401,
        }

    @staticmethod
    async def _post(client: httpx.AsyncClient, url: str, body: bytes, key: str) -> int | str:
        return await post_signed(client, url, body, SIGNATURE_HEADER, sign(body, key))
