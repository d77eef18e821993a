"""Linking an organisation's Stripe account through Connect OAuth (Standard accounts).

An admin starts it (`start`): a random `state` goes into their session, bound to them and
their organisation, and they are sent to Stripe. Stripe sends them back with a code and that
state (`finish`): the state must be the one this session started, for this user and
organisation, within ten minutes; the code is turned into the account id by Stripe itself.
An account belongs to one organisation only (a unique index on organisations'
stripe_account_id), so webhooks and the sweep route each account's events to one owner.
"""

from __future__ import annotations

import secrets
import time

from litestar import Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.payments.stripe_connect import ConnectRefused, StripeConnect
from duely.models import Organisation
from duely.settings import Settings
from duely.web.chase import retry_waiting_payments

STATE_KEY = "stripe_connect"
STATE_SECONDS = 600
CALLBACK_PATH = "/settings/organisation/stripe/connected"
TAKEN = (
    "This Stripe account is already linked to another organisation in duely, so it was not "
    "linked here. Each Stripe account takes one organisation's payments."
)


class ConnectProblem(Exception):
    """Said to the admin on the settings page; nothing was changed."""


def stripe_connect_of(settings: Settings) -> StripeConnect | None:
    """None when this server is not set up as a Connect platform."""
    if not (settings.stripe_connect_client_id and settings.stripe_secret_key):
        return None
    return StripeConnect(
        settings.stripe_connect_url, settings.stripe_connect_client_id, settings.stripe_secret_key
    )


def start(request: Request, organisation: Organisation) -> str:
    """Where to send the admin: Stripe's page for choosing the account to connect."""
    connect = stripe_connect_of(request.app.state.settings)
    if connect is None:
        raise ConnectProblem(
            "This server is not set up for Stripe Connect (DUELY_STRIPE_CONNECT_CLIENT_ID and "
            "DUELY_STRIPE_SECRET_KEY): use your own secret key instead."
        )
    state = secrets.token_urlsafe(32)
    request.session[STATE_KEY] = {
        "state": state,
        "user_id": request.user.id,
        "organisation_id": organisation.id,
        "expires": time.time() + STATE_SECONDS,
    }
    public_url = request.app.state.settings.public_url.rstrip("/")
    return connect.authorize_url(state, f"{public_url}{CALLBACK_PATH}")


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
    connect = stripe_connect_of(request.app.state.settings)
    if connect is None or not query.get("code"):
        raise ConnectProblem("Stripe sent no code back: nothing was linked. Start again.")
    try:
        account = await connect.connected_account(query["code"])
    except ConnectRefused as refused:
        raise ConnectProblem(f"Stripe did not link the account: {refused}") from None
    owner = (
        await session.exec(
            select(Organisation.id).where(
                Organisation.stripe_account_id == account.account_id,
                Organisation.id != organisation.id,
            )
        )
    ).first()
    if owner is not None:
        raise ConnectProblem(TAKEN)
    organisation.stripe_account_id = account.account_id
    session.add(organisation)
    try:
        await session.commit()
    except IntegrityError:  # another organisation linked it a moment ago
        await session.rollback()
        raise ConnectProblem(TAKEN) from None
    await retry_waiting_payments(request.app.state, session, organisation.id)
    return account.account_id


async def disconnect(request: Request, session: AsyncSession, organisation: Organisation) -> str:
    """Unlink the account (Stripe is told the platform lets go of it, when it can be)."""
    account_id = organisation.stripe_account_id
    if not account_id:
        raise ConnectProblem("No Stripe account is linked.")
    organisation.stripe_account_id = ""
    session.add(organisation)
    await session.commit()
    connect = stripe_connect_of(request.app.state.settings)
    if connect is not None:
        try:
            await connect.disconnect(account_id)
        except ConnectRefused as refused:
            return f"Unlinked here; Stripe said: {refused}"
    return "Unlinked: card payments no longer go to that account."
