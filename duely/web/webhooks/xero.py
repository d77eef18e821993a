"""`POST /webhooks/xero`: Xero says contacts or invoices changed; sync those connections.

Xero wants 200 within 5 s for a correctly signed delivery and 401 otherwise, including for its
"intent to receive" check (an empty batch sent once signed and once not).
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
from duely.web.connections import sync_soon
from duely.web.deps import DbSession

log = logging.getLogger(__name__)


def xero_signature(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@post("/webhooks/xero", opt={"exclude_from_auth": True, "exclude_from_csrf": True}, status_code=200)
async def xero_webhook(request: Request, db_session: DbSession) -> Response:
    body = await request.body()
    expected = xero_signature(body, request.app.state.settings.xero_webhook_key)
    if not hmac.compare_digest(expected, request.headers.get("x-xero-signature", "")):
        return Response(b"", status_code=401)
    tenants = {event.get("tenantId") for event in json.loads(body or b"{}").get("events", [])}
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
                await sync_soon(request, connection)
            except RuntimeError as error:
                # The scheduled sync catches the change anyway; Xero must not retry for this.
                log.warning(
                    "webhook could not request a sync of connection %s: %s", connection.id, error
                )
    return Response(b"", status_code=200)
