"""Linking an organisation's Stripe account through Connect OAuth: the browser's side.

An admin starts it (`start`): a random `state` goes into their session, bound to them and
their organisation, and they are sent to Stripe. Stripe sends them back with a code and that
state (`finish`): the state must be the one this session started, for this user and
organisation, within ten minutes; the code is then redeemed and the account linked by
duely/payments/connected_accounts.py (one organisation per account).
"""

from __future__ import annotations

import secrets
import time

from litestar import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Organisation
from duely.payments.connected_accounts import (
    ConnectProblem,
    authorize_url,
    link_account,
    unlink_account,
)
from duely.web.chase import retry_waiting_payments

STATE_KEY = "stripe_connect"
STATE_SECONDS = 600
CALLBACK_PATH = "/settings/organisation/stripe/connected"


def start(request: Request, organisation: Organisation) -> str:
    """Where to send the admin: Stripe's page for choosing the account to connect."""
    settings = request.app.state.settings
    state = secrets.token_urlsafe(32)
    url = authorize_url(settings, state, f"{settings.public_url.rstrip('/')}{CALLBACK_PATH}")
    request.session[STATE_KEY] = {
        "state": state,
        "user_id": request.user.id,
        "organisation_id": organisation.id,
        "expires": time.time() + STATE_SECONDS,
    }
    return url


async def finish(
    request: Request,
    session: AsyncSession,
    organisation: Organisation,
    query: dict[str, str | None],
) -> str:
    """Link the account Stripe names for this code; returns the account id."""
    pending = request.session.pop(STATE_KEY, None) or {}
    ours = (
        isinstance(pending, dict)
        and secrets.compare_digest(str(pending.get("state", "")), query.get("state") or "")
        and pending.get("user_id") == request.user.id
        and pending.get("organisation_id") == organisation.id
        and time.time() < float(pending.get("expires", 0))
    )
    if not ours:
        raise ConnectProblem(
            "This Stripe sign-in was not started from this page, or took longer than ten "
            "minutes: nothing was linked. Start again with Connect with Stripe."
        )
    if query.get("error"):
        said = query.get("error_description") or query.get("error")
        raise ConnectProblem(f"Stripe did not connect the account ({said}): nothing was linked.")
    settings = request.app.state.settings
    account_id = await link_account(settings, session, organisation, query.get("code") or "")
    await retry_waiting_payments(request.app.state, session, organisation.id)
    return account_id


async def disconnect(request: Request, session: AsyncSession, organisation: Organisation) -> str:
    """Unlink the account (Stripe is told the platform lets go of it, when it can be)."""
    return await unlink_account(request.app.state.settings, session, organisation)
