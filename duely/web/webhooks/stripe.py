"""`POST /webhooks/stripe`: Stripe tells duely about payments, refunds and disputes.

The event is verified (signature and a 300 s tolerance), kept once by its id, and dispatched
to the invoices' chase workflows; the answer goes back within seconds whatever happens after.
A repeat of a dispatched event changes nothing; an event kept while Temporal was away is
dispatched by the worker's background round (see duely.payments.redispatch).
"""

from __future__ import annotations

import json
import logging

from litestar import Request, Response, post
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.payments.stripe import BadSignature, verify_event
from duely.models import Organisation
from duely.payments import inbox
from duely.payments.stripe_accounts import webhook_secrets_of
from duely.settings import Settings
from duely.web.chasing import ChaseEngineDown, chase_engine

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
"""Stripe's events are a few KiB; a large charge with expanded objects stays far below."""


def _answer(status_code: int, **body) -> Response[dict]:
    return Response(body, status_code=status_code)


async def _signers(
    session: AsyncSession, settings: Settings, organisation_id: int | None
) -> list[tuple[int | None, tuple[str, ...]]]:
    """Who may have signed the event, with their secrets. An event that names no organisation
    (a payment taken outside duely's payment page) may come from any business's own endpoint,
    or from the platform's Connect endpoint."""
    if organisation_id is not None:
        organisation = await session.get(Organisation, organisation_id)
        signers = [(organisation_id, webhook_secrets_of(settings, organisation))]
    else:
        with_secrets = await session.exec(
            select(Organisation).where(Organisation.stripe_webhook_secret_encrypted != "")
        )
        signers = [
            (organisation.id, webhook_secrets_of(settings, organisation, platform=False))
            for organisation in with_secrets
        ]
        signers.append((None, webhook_secrets_of(settings, None)))
    return [(signer, secrets) for signer, secrets in signers if secrets]


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
    try:
        unverified = json.loads(body)
        if not isinstance(unverified, dict):
            raise ValueError("not an object")
    except ValueError:
        return _answer(400, error="the body is not a Stripe event")
    settings, db = request.app.state.settings, request.app.state.db
    # Each step below takes its own short session, and none is held while another is open
    # or while Temporal is asked: a burst of webhooks then queues for connections instead of
    # every request holding one while it waits for a second.
    async with db.session() as session:
        organisation_id = await inbox.organisation_of_event(session, unverified)
        signers = await _signers(session, settings, organisation_id)
    refusal = "no webhook secret is configured for this Stripe account"
    for candidate, secrets in signers:
        try:
            event = verify_event(body, header, secrets)
        except BadSignature as bad:
            # "too old" is only said of a genuine signature: the most useful thing to report.
            if "too old" not in refusal:
                refusal = str(bad)
            continue
        organisation_id = candidate
        break
    else:
        log.warning("Stripe webhook refused: %s", refusal)
        return _answer(401, error=refusal)
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
