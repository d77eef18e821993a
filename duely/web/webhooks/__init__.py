"""Webhook endpoints: exempt from sessions and CSRF, verified by each sender's signature.

Each endpoint checks the signature on the raw body before reading anything in it: a forged or
unsigned body is refused without being parsed. A body that is correctly signed but cannot be
read is refused with 400 and kept (`keep_unreadable`), so that nothing a sender signed is lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

from litestar import Request
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from duely.core.db import Database
from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection, ConnectionStatus, WebhookEvent, utcnow
from duely.web.chase import ChaseEngineDown, chase_engine

log = logging.getLogger(__name__)

SYNC_REQUEST_SECONDS = 3
"""How long a ledger's webhook waits for Temporal per sync it asks for: the ledgers want their
answer within seconds, and the scheduled sync catches the change anyway."""


def hmac_signature(body: bytes, key: str) -> str:
    """base64(HMAC-SHA256(body, key)): how Xero and QuickBooks both sign their webhooks."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def signed_with(body: bytes, given: str, key: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forger can send.
    expected = hmac_signature(body, key).encode()
    return bool(key) and hmac.compare_digest(expected, given.encode())


def sync_after_answer(request: Request, provider: str, tenants: set[str]) -> BackgroundTask:
    """The syncs a ledger's webhook asks for, requested once the ledger has its answer: the
    ledgers want 200 within seconds, and a slow Temporal must not hold it."""
    return BackgroundTask(_sync_tenants, request.app.state, provider, tenants)


async def _sync_tenants(state: State, provider: str, tenants: set[str]) -> None:
    """Ask for a sync of each connection of these ledger tenants (Xero tenants, QuickBooks
    companies). Temporal out of reach is logged, not failed: the scheduled sync catches up."""
    if not tenants:
        return
    async with state.after_answers.turn():
        await _sync_connections(state, provider, tenants)


async def _sync_connections(state: State, provider: str, tenants: set[str]) -> None:
    async with state.db.session() as session:
        connections = (
            await session.exec(
                select(Connection).where(
                    Connection.provider == provider,
                    col(Connection.external_tenant_id).in_(tenants),
                    Connection.status != ConnectionStatus.NEEDS_RECONNECT,
                )
            )
        ).all()
    for connection in connections:
        try:
            async with chase_engine(state, SYNC_REQUEST_SECONDS) as client:
                await request_sync(client, state.settings, connection)
        except ChaseEngineDown as down:
            log.warning(
                "webhook could not request a sync of connection %s: %s", connection.id, down
            )
            break  # the others would wait for the same absent Temporal


UNREADABLE = "unreadable"
"""The `event_type` of a kept body that could not be read."""


def stored_text(body: bytes) -> str:
    """The body as the payload column can hold it: UTF-8 text as it came, anything else (or
    text with NUL, which PostgreSQL's text refuses) in base64, byte for byte."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text
    return "base64:" + base64.b64encode(body).decode("ascii")


async def keep_unreadable(
    db: Database, provider: str, body: bytes, reason: str, organisation_id: int | None = None
) -> None:
    """Keep a correctly signed body that cannot be read, once per content, for a person to
    inspect. It is marked processed so that nothing tries to dispatch it again: it would fail
    the same way every time."""
    digest = hashlib.sha256(body).hexdigest()
    log.warning(
        "%s webhook signed but unreadable (%s): %d bytes, sha256 %s, kept in webhook_events",
        provider,
        reason,
        len(body),
        digest,
    )
    row = WebhookEvent(
        organisation_id=organisation_id,
        provider=provider,
        event_id=f"sha256:{digest}",
        event_type=UNREADABLE,
        payload=stored_text(body),
        processed_at=utcnow(),
        last_error=f"refused, signed but unreadable: {reason}"[:2000],
    )
    async with db.writing() as session:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # the same body, delivered again: kept already
            await session.rollback()
