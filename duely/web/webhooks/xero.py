"""`POST /webhooks/xero`: Xero says contacts or invoices changed; sync those connections.

Xero wants 200 within 5 s for a correctly signed delivery and 401 otherwise, including for its
"intent to receive" check (an empty batch sent once signed and once not). The signature is
checked on the raw body before anything in it is read. A correctly signed body that is not a
batch of events as Xero documents it is refused with 400 and kept for inspection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from litestar import Request, Response, post
from sqlmodel import col, select

from duely.models import Connection, ConnectionStatus, Provider
from duely.web.chase import ChaseEngineDown
from duely.web.connections import sync_soon
from duely.web.deps import DbSession
from duely.web.webhooks import keep_unreadable

log = logging.getLogger(__name__)

XERO = "xero"
SYNC_REQUEST_SECONDS = 3
"""How long the webhook waits for Temporal per sync it asks for: Xero wants its answer in 5 s,
and the scheduled sync catches the change anyway."""


def xero_signature(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def signed_by_xero(body: bytes, given: str, key: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forger can send.
    expected = xero_signature(body, key).encode()
    return bool(key) and hmac.compare_digest(expected, given.encode())


def tenants_named(body: bytes) -> set[str]:
    """The tenants a signed batch is about; ValueError saying why it is not a batch as Xero
    sends them (`{"events": [{"tenantId": ..., ...}, ...], ...}`)."""
    try:
        batch = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(batch, dict) or not isinstance(batch.get("events"), list):
        raise ValueError("the body is not a batch of events")
    tenants = set()
    for event in batch["events"]:
        if not isinstance(event, dict) or not isinstance(event.get("tenantId"), str):
            raise ValueError("an event names no tenant")
        tenants.add(event["tenantId"])
    return tenants


@post("/webhooks/xero", opt={"exclude_from_auth": True, "exclude_from_csrf": True}, status_code=200)
async def xero_webhook(request: Request, db_session: DbSession) -> Response:
    body = await request.body()
    given = request.headers.get("x-xero-signature", "")
    if not signed_by_xero(body, given, request.app.state.settings.xero_webhook_key):
        return Response(b"", status_code=401)
    try:
        tenants = tenants_named(body)
    except ValueError as unreadable:
        await keep_unreadable(request.app.state.db, XERO, body, str(unreadable))
        return Response(b"", status_code=400)
    if tenants:
        connections = (
            await db_session.exec(
                select(Connection).where(
                    Connection.provider == Provider.XERO,
                    col(Connection.external_tenant_id).in_(tenants),
                    Connection.status != ConnectionStatus.NEEDS_RECONNECT,
                )
            )
        ).all()
        for connection in connections:
            try:
                await sync_soon(request, connection, SYNC_REQUEST_SECONDS)
            except ChaseEngineDown as down:
                # The scheduled syncs catch the change anyway; Xero must not retry for this.
                log.warning(
                    "webhook could not request a sync of connection %s: %s", connection.id, down
                )
                break  # the others would wait for the same absent Temporal
    return Response(b"", status_code=200)
