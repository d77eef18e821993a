"""`POST /webhooks/xero`: Xero says contacts or invoices changed; sync those connections.

Xero wants 200 within 5 s for a correctly signed delivery and 401 otherwise, including for its
"intent to receive" check (an empty batch sent once signed and once not). The signature is
checked on the raw body before anything in it is read. A correctly signed body that is not a
batch of events as Xero documents it is refused with 400 and kept for inspection.
"""

from __future__ import annotations

import json

from litestar import Request, Response, post

from duely.models import Provider
from duely.web.webhooks import hmac_signature, keep_unreadable, signed_with, sync_after_answer

XERO = "xero"


def xero_signature(body: bytes, key: str) -> str:
    return hmac_signature(body, key)


def signed_by_xero(body: bytes, given: str, key: str) -> bool:
    return signed_with(body, given, key)


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
async def xero_webhook(request: Request) -> Response:
    body = await request.body()
    given = request.headers.get("x-xero-signature", "")
    if not signed_by_xero(body, given, request.app.state.settings.xero_webhook_key):
        return Response(b"", status_code=401)
    try:
        tenants = tenants_named(body)
    except ValueError as unreadable:
        await keep_unreadable(request.app.state.db, XERO, body, str(unreadable))
        return Response(b"", status_code=400)
    return Response(
        b"", status_code=200, background=sync_after_answer(request, Provider.XERO, tenants)
    )
