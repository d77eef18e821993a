"""`POST /webhooks/quickbooks`: QuickBooks says entities of a company changed; sync it.

Signed with `intuit-signature` = base64(HMAC-SHA256(raw body, the app's verifier token)),
checked on the raw body before anything in it is read: a forged or unsigned body gets 401.
Both shapes Intuit sends are read: the legacy `{"eventNotifications": [{"realmId": ...,
"dataChangeEvent": {...}}]}` and the CloudEvents array `[{"specversion": "1.0",
"intuitaccountid": <realm>, "type": "qbo.invoice.updated.v1", ...}]`. A correctly signed body in
neither shape is refused with 400 and kept for inspection.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, post

from duely.models import Provider
from duely.web.webhooks import keep_unreadable, signed_with, sync_after_answer

QUICKBOOKS = "quickbooks"


def companies_named(body: bytes) -> set[str]:
    """The companies (realm ids) a signed delivery is about; ValueError saying why it is in
    neither of Intuit's shapes."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        notifications = payload["eventNotifications"]
        if not all(
            isinstance(n, dict) and isinstance(n.get("realmId"), str) for n in notifications
        ):
            raise ValueError("a notification names no company (realmId)")
        return {n["realmId"] for n in notifications}
    if isinstance(payload, list):
        if not all(
            isinstance(e, dict) and isinstance(e.get("intuitaccountid"), str) for e in payload
        ):
            raise ValueError("an event names no company (intuitaccountid)")
        return {e["intuitaccountid"] for e in payload}
    raise ValueError("the body is neither eventNotifications nor a CloudEvents array")


@post(
    "/webhooks/quickbooks",
    opt={"exclude_from_auth": True, "exclude_from_csrf": True},
    status_code=200,
)
async def quickbooks_webhook(request: Request) -> Response[bytes]:
    body = await request.body()
    given = request.headers.get("intuit-signature", "")
    if not signed_with(body, given, request.app.state.settings.quickbooks_verifier_token):
        return Response(b"", status_code=401)
    try:
        companies = companies_named(body)
    except ValueError as unreadable:
        await keep_unreadable(request.app.state.db, QUICKBOOKS, body, str(unreadable))
        return Response(b"", status_code=400)
    return Response(
        b"", status_code=200, background=sync_after_answer(request, Provider.QUICKBOOKS, companies)
    )
