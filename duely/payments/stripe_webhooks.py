"""Stripe's webhooks, before anything is done with them: who may have signed one, whether one
of them did, and whether a verified event's fields can be kept and dispatched.

Used by `POST /webhooks/stripe` (duely.web.webhooks.stripe), which answers Stripe; the
inbox (duely.payments.inbox) keeps and dispatches what passes here.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptography.fernet import InvalidToken
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import MAX_BIGINT, MAX_ID
from duely.core.security import SecretBox
from duely.integrations.payments.stripe import BadSignature, verify_event
from duely.models import Organisation
from duely.payments.allocations import BadAllocation, from_metadata, is_duelys, organisation_of
from duely.payments.stripe_accounts import webhook_secrets_of
from duely.payments.stripe_events import MoneyIn, read_event
from duely.settings import Settings

log = logging.getLogger(__name__)

NOT_AN_EVENT = "the signed body is not a Stripe event"
"""What verify_event says of a body whose signature matched but that is no JSON object."""
PLATFORM = None
"""The signer that is the platform's Connect endpoint rather than one business's own."""

Signer = int | None
"""The organisation whose own endpoint signed an event, or PLATFORM."""
Secrets = tuple[str, ...]


class NotAnEvent(Exception):
    """Signed right, but the body is no event: keep it for a person, never dispatch it."""

    def __init__(self, signer: Signer) -> None:
        super().__init__(NOT_AN_EVENT)
        self.signer = signer


class Unsigned(Exception):
    """No secret duely holds signed the body (or the signature is too old): refuse it."""


_WITH_SECRETS = (
    select(Organisation.id, Organisation.stripe_webhook_secret_encrypted)
    .where(Organisation.stripe_webhook_secret_encrypted != "")
    .order_by(col(Organisation.id))
)
"""Two columns, not whole organisations: every webhook asks, a storm 200 times at once."""


async def signers(session: AsyncSession, settings: Settings) -> list[tuple[Signer, Secrets]]:
    """Everyone who may sign an event, with their secrets: each business's own endpoint, and
    the platform's Connect endpoint. Nothing in the body picks among them: it is not yet
    known to come from Stripe."""
    box = SecretBox(settings.resolved_secret_key)
    found: list[tuple[Signer, Secrets]] = []
    for organisation_id, encrypted in await session.exec(_WITH_SECRETS):
        try:
            own = box.decrypt(encrypted)
        except InvalidToken:
            # Stored under another DUELY_SECRET_KEY (the settings page asks for it again):
            # it can sign nothing here, and must not stop everyone else's events.
            log.warning("organisation %s's Stripe webhook secret is unreadable", organisation_id)
            continue
        found.append((organisation_id, (own,) if own else ()))
    found.append((PLATFORM, webhook_secrets_of(settings, None)))
    return [(signer, secrets) for signer, secrets in found if secrets]


def unreadable_because(event: dict[str, Any]) -> str:
    """Why a verified event cannot be kept and dispatched ("" when it can). The inbox reads
    these fields later, again on every retry, so a surprise here would fail for ever."""
    if not isinstance(event.get("id"), str) or not event["id"]:
        return "it has no event id"
    if not isinstance(event.get("type"), str):
        return "it has no event type"
    if not isinstance(event.get("account"), str | None):
        return "its account is not an account id"
    data = event.get("data")
    thing = data.get("object") if isinstance(data, dict) else None
    if not isinstance(thing, dict):
        return "it has no data.object"
    metadata = thing.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        return "its metadata is not a set of strings"
    try:
        meaning = read_event(event)
    except (ValueError, TypeError, AttributeError, OverflowError, OSError) as error:
        return f"its fields do not read: {error}"
    # Numbers the inbox looks up or stores: ids are INTEGER columns, amounts BIGINT ones.
    amounts = [meaning.amount] if isinstance(meaning, MoneyIn) else []
    ids = [organisation_of(metadata) or 0]
    try:
        allocation = from_metadata(metadata) if is_duelys(metadata) else None
    except BadAllocation:
        allocation = None  # kept and queued as unmatched, as any unreadable allocation is
    if allocation is not None:
        ids += [allocation.customer_id, *(share.invoice_id for share in allocation.shares)]
        amounts += [share.amount for share in allocation.shares]
    if not all(0 <= n <= MAX_ID for n in ids) or not all(0 <= n <= MAX_BIGINT for n in amounts):
        return "a number in it is out of range"
    return ""


def verify(
    body: bytes, header: str, signers: list[tuple[Signer, Secrets]]
) -> tuple[dict[str, Any], Signer]:
    """The event and who signed it, trying each signer's secrets in turn."""
    refusal = "no webhook secret is configured for this Stripe account"
    for signer, secrets in signers:
        try:
            return verify_event(body, header, secrets), signer
        except BadSignature as bad:
            if str(bad) == NOT_AN_EVENT:  # signed right: the body itself is wrong
                raise NotAnEvent(signer) from bad
            # "too old" is only said of a genuine signature: the most useful thing to report.
            if "too old" not in refusal:
                refusal = str(bad)
        except RecursionError as deep:  # signed right, but JSON nested deeper than Python reads
            raise NotAnEvent(signer) from deep
    raise Unsigned(refusal)
