"""An organisation's Stripe account linked through Connect OAuth (Standard accounts), as duely
keeps it: the server's Connect platform, a code redeemed for the account id, and one owner per
account (a unique index on organisations' stripe_account_id), so that webhooks and the sweep
route each account's events to one organisation. The browser's side (the state bound to the
admin's session) is duely/web/stripe_connect.py's."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.payments.stripe_connect import ConnectRefused, StripeConnect
from duely.models import Organisation
from duely.settings import Settings

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


def authorize_url(settings: Settings, state: str, callback_url: str) -> str:
    """Stripe's page for choosing the account to connect."""
    connect = stripe_connect_of(settings)
    if connect is None:
        raise ConnectProblem(
            "This server is not set up for Stripe Connect (DUELY_STRIPE_CONNECT_CLIENT_ID and "
            "DUELY_STRIPE_SECRET_KEY): use your own secret key instead."
        )
    return connect.authorize_url(state, callback_url)


async def link_account(
    settings: Settings, session: AsyncSession, organisation: Organisation, code: str
) -> str:
    """Redeem Stripe's code and link the account it names to `organisation`, unless another
    organisation holds it; returns the account id."""
    connect = stripe_connect_of(settings)
    if connect is None or not code:
        raise ConnectProblem("Stripe sent no code back: nothing was linked. Start again.")
    try:
        account = await connect.connected_account(code)
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
    return account.account_id


async def unlink_account(
    settings: Settings, session: AsyncSession, organisation: Organisation
) -> str:
    """Unlink the account (Stripe is told the platform lets go of it, when it can be); what
    to tell the admin."""
    account_id = organisation.stripe_account_id
    if not account_id:
        raise ConnectProblem("No Stripe account is linked.")
    organisation.stripe_account_id = ""
    session.add(organisation)
    await session.commit()
    connect = stripe_connect_of(settings)
    if connect is not None:
        try:
            await connect.disconnect(account_id)
        except ConnectRefused as refused:
            return f"Unlinked here; Stripe said: {refused}"
    return "Unlinked: card payments no longer go to that account."
