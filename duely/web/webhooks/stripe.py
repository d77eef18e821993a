"""`POST /webhooks/stripe`: Stripe tells duely about payments, refunds and disputes.

The signature (and a 300 s tolerance) is checked on the raw body against every secret that may
have signed it, before anything in the body is read. A verified event is kept once by its id
in one short transaction and answered; it is dispatched to the invoices' chase workflows after
the answer has gone, so neither a slow Temporal nor a storm of payments keeps Stripe waiting.
A repeat of a dispatched event changes nothing; an event kept while Temporal was away is
dispatched by the worker's background round (see duely.payments.redispatch).

A correctly signed body duely cannot read (not an event, or one whose fields would trip the
inbox on every retry) is refused with 400 and kept for inspection, never dispatched.
"""

from __future__ import annotations

import logging

from litestar import Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State

from duely.models import Organisation, WebhookEvent
from duely.payments import inbox, stripe_webhooks
from duely.web.chase import ChaseEngineDown, chase_engine
from duely.web.webhooks import keep_unreadable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
"""Stripe's events are a few KiB; a large charge with expanded objects stays far below."""


def _answer(status_code: int, **body) -> Response[dict]:
    return Response(body, status_code=status_code)


@post(
    "/webhooks/stripe",
    opt={"exclude_from_auth": True, "exclude_from_csrf": True},
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
)
async def stripe_webhook(request: Request) -> Response[dict]:
    # Counted while it is answered: dispatches wait for every answer in flight (a storm's
    # answers first, then its dispatches; duely.web.webhooks.after_answers).
    with request.app.state.after_answers.answering():
        return await _answer_event(request)


async def _answer_event(request: Request) -> Response[dict]:
    body = await request.body()
    header = request.headers.get("stripe-signature", "")
    if not header:
        return _answer(400, error="no Stripe-Signature header")
    settings, db = request.app.state.settings, request.app.state.db
    # Each step below takes its own short session, and none is held while another is open
    # or while Temporal is asked: a burst of webhooks then queues for connections instead of
    # every request holding one while it waits for a second.
    async with db.session() as session:
        signers = await stripe_webhooks.signers(session, settings)
    try:
        event, signer = stripe_webhooks.verify(body, header, signers)
    except stripe_webhooks.NotAnEvent as wrong:
        await keep_unreadable(db, inbox.STRIPE, body, str(wrong), wrong.signer)
        return _answer(400, error=str(wrong))
    except stripe_webhooks.Unsigned as refused:
        log.warning("Stripe webhook refused: %s", refused)
        return _answer(401, error=str(refused))
    problem = stripe_webhooks.unreadable_because(event)
    if problem:
        await keep_unreadable(db, inbox.STRIPE, body, problem, signer)
        return _answer(400, error=f"the signed event cannot be read: {problem}")
    organisation_id = signer
    if signer is stripe_webhooks.PLATFORM or event.get("account"):
        # Whose the event is, now that it is known to come from Stripe: a Connect event is
        # its account's owner's only, another (from the platform) the business it names.
        async with db.session() as session:
            named = await inbox.organisation_of_event(session, event)
            if named is not None and await session.get(Organisation, named) is None:
                named = None  # no organisation duely has: kept unattributed
        if signer is not stripe_webhooks.PLATFORM and named != signer:
            log.warning("Stripe webhook refused: organisation %s signed another's event", signer)
            return _answer(401, error="the event's Stripe account is not the signer's")
        organisation_id = named
    row, new = await inbox.keep(db, event, organisation_id)
    if row.processed_at is not None:
        return _answer(200, received=True, duplicate=True)
    # Answered now; handed to the invoices' chases just after. Should this process die in
    # between, the worker's background round dispatches the kept event (payments.redispatch).
    return Response(
        {"received": True, "duplicate": not new},
        status_code=200,
        background=BackgroundTask(_dispatch, request.app.state, row),
    )


async def _dispatch(state: State, row: WebhookEvent) -> None:
    async with state.after_answers.turn():
        await _dispatch_now(state, row)


async def _dispatch_now(state: State, row: WebhookEvent) -> None:
    try:
        async with chase_engine(state, inbox.DISPATCH_SECONDS) as client:
            pass  # connected; dispatch keeps its own time limit
    except ChaseEngineDown as down:
        await inbox.mark_failed(state.db, row, str(down))
        return
    await inbox.dispatch(state.db, client, state.settings.temporal_task_queue, row)
