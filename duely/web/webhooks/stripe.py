"""`POST /webhooks/stripe`: Stripe tells duely about payments, refunds and disputes.

The signature (and a 300 s tolerance) is checked on the raw body against every secret that may
have signed it, before anything in the body is read. A verified event is kept once by its id
and dispatched to the invoices' chase workflows; the answer goes back within seconds whatever
happens after. A repeat of a dispatched event changes nothing; an event kept while Temporal
was away is dispatched by the worker's background round (see duely.payments.redispatch).

A correctly signed body duely cannot read (not an event, or one whose fields would trip the
inbox on every retry) is refused with 400 and kept for inspection, never dispatched.
"""

from __future__ import annotations

import logging

from cryptography.fernet import InvalidToken
from litestar import Request, Response, post
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.payments.stripe import BadSignature, verify_event
from duely.models import Organisation
from duely.payments import inbox
from duely.payments.allocations import BadAllocation, from_metadata, is_duelys, organisation_of
from duely.payments.stripe_accounts import webhook_secrets_of
from duely.payments.stripe_events import MoneyIn, read_event
from duely.settings import Settings
from duely.web.api.paging import MAX_BIGINT, MAX_ID
from duely.web.chase import ChaseEngineDown, chase_engine
from duely.web.webhooks import keep_unreadable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
"""Stripe's events are a few KiB; a large charge with expanded objects stays far below."""
NOT_AN_EVENT = "the signed body is not a Stripe event"
"""What verify_event says of a body whose signature matched but that is no JSON object."""
PLATFORM = None
"""The signer that is the platform's Connect endpoint rather than one business's own."""


def _answer(status_code: int, **body) -> Response[dict]:
    return Response(body, status_code=status_code)


async def _signers(session: AsyncSession, settings: Settings) -> list[tuple[int | None, tuple]]:
    """Everyone who may sign an event, with their secrets: each business's own endpoint, and
    the platform's Connect endpoint. Nothing in the body picks among them: it is not yet
    known to come from Stripe."""
    with_secrets = await session.exec(
        select(Organisation)
        .where(Organisation.stripe_webhook_secret_encrypted != "")
        .order_by(Organisation.id)
    )
    signers = []
    for organisation in with_secrets:
        try:
            signers.append(
                (organisation.id, webhook_secrets_of(settings, organisation, platform=False))
            )
        except InvalidToken:
            # Stored under another DUELY_SECRET_KEY (the settings page asks for it again):
            # it can sign nothing here, and must not stop everyone else's events.
            log.warning("organisation %s's Stripe webhook secret is unreadable", organisation.id)
    signers.append((PLATFORM, webhook_secrets_of(settings, None)))
    return [(signer, secrets) for signer, secrets in signers if secrets]


def unreadable_because(event: dict) -> str:
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


@post(
    "/webhooks/stripe",
    opt={"exclude_from_auth": True, "exclude_from_csrf": True},
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
)
async def stripe_webhook(request: Request) -> Response[dict]:
    body = await request.body()
    header = request.headers.get("stripe-signature", "")
    if not header:
        return _answer(400, error="no Stripe-Signature header")
    settings, db = request.app.state.settings, request.app.state.db
    # Each step below takes its own short session, and none is held while another is open
    # or while Temporal is asked: a burst of webhooks then queues for connections instead of
    # every request holding one while it waits for a second.
    async with db.session() as session:
        signers = await _signers(session, settings)
    refusal = "no webhook secret is configured for this Stripe account"
    for signer, secrets in signers:
        try:
            event = verify_event(body, header, secrets)
        except BadSignature as bad:
            if str(bad) == NOT_AN_EVENT:  # signed right: the body itself is wrong
                await keep_unreadable(db, inbox.STRIPE, body, NOT_AN_EVENT, signer)
                return _answer(400, error=NOT_AN_EVENT)
            # "too old" is only said of a genuine signature: the most useful thing to report.
            if "too old" not in refusal:
                refusal = str(bad)
            continue
        except RecursionError:  # signed right, but JSON nested deeper than Python reads
            await keep_unreadable(db, inbox.STRIPE, body, NOT_AN_EVENT, signer)
            return _answer(400, error=NOT_AN_EVENT)
        break
    else:
        log.warning("Stripe webhook refused: %s", refusal)
        return _answer(401, error=refusal)
    problem = unreadable_because(event)
    if problem:
        await keep_unreadable(db, inbox.STRIPE, body, problem, signer)
        return _answer(400, error=f"the signed event cannot be read: {problem}")
    organisation_id = signer
    if signer is PLATFORM or event.get("account"):
        # Whose the event is, now that it is known to come from Stripe: a Connect event is
        # its account's owner's only, another (from the platform) the business it names.
        async with db.session() as session:
            named = await inbox.organisation_of_event(session, event)
            if named is not None and await session.get(Organisation, named) is None:
                named = None  # no organisation duely has: kept unattributed
        if signer is not PLATFORM and named != signer:
            log.warning("Stripe webhook refused: organisation %s signed another's event", signer)
            return _answer(401, error="the event's Stripe account is not the signer's")
        organisation_id = named
    row, new = await inbox.keep(db, event, organisation_id)
    if row.processed_at is not None:
        return _answer(200, received=True, duplicate=True)
    try:
        async with chase_engine(request.app.state, inbox.DISPATCH_SECONDS) as client:
            pass  # connected; dispatch keeps its own time limit
    except ChaseEngineDown as down:
        await inbox.mark_failed(db, row, str(down))
        return _answer(200, received=True, duplicate=not new, dispatched=False)
    dispatched = await inbox.dispatch(db, client, settings.temporal_task_queue, row)
    return _answer(200, received=True, duplicate=not new, dispatched=dispatched)
