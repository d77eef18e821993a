"""Webhook endpoints: exempt from sessions and CSRF, verified by each sender's signature.

Each endpoint checks the signature on the raw body before reading anything in it: a forged or
unsigned body is refused without being parsed. A body that is correctly signed but cannot be
read is refused with 400 and kept (`keep_unreadable`), so that nothing a sender signed is lost.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from sqlalchemy.exc import IntegrityError

from duely.core.db import Database
from duely.models import WebhookEvent, utcnow

log = logging.getLogger(__name__)

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
    async with db.session() as session:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # the same body, delivered again: kept already
            await session.rollback()
