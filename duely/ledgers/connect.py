"""Connecting an organisation to its ledger (Xero, QuickBooks Online: redeem the OAuth code,
pick the tenant; AccountsIQ: sign in with the pasted keys), then start syncing. The web
callbacks and the demo seed of `duely up` go through here."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import httpx

from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.accountsiq.service import LOCATIONS, Credentials, NotSignedIn
from duely.integrations.ledgers.base import (
    LedgerAuthError,
    LedgerError,
    LedgerOrganisation,
    LedgerUnavailable,
)
from duely.integrations.ledgers.connections import Ledgers, save_connection
from duely.integrations.ledgers.oauth_flow import AuthorizationRequest
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.integrations.ledgers.xero.oauth import XeroTenant
from duely.models import Connection, Provider
from duely.settings import Settings

log = logging.getLogger(__name__)


class GrantRefused(Exception):
    """The ledger would not redeem the sign-in's code (refused, expired or used)."""


@dataclass(frozen=True)
class Grant:
    """What a person's sign-in to the ledger granted: tokens, and the tenants they shared."""

    tokens: OAuthTokens
    tenants: list[XeroTenant]

    def sealed(self, box: SecretBox) -> dict[str, Any]:
        """To keep in the browser's session while the person picks a tenant: tokens encrypted."""
        return {
            "access": box.encrypt(self.tokens.access_token),
            "refresh": box.encrypt(self.tokens.refresh_token),
            "expires_at": self.tokens.expires_at.isoformat(),
            "tenants": [asdict(t) for t in self.tenants],
        }

    @classmethod
    def unsealed(cls, data: dict[str, Any], box: SecretBox) -> Grant:
        tokens = OAuthTokens(
            box.decrypt(data["access"]),
            box.decrypt(data["refresh"]),
            datetime.fromisoformat(data["expires_at"]),
        )
        return cls(tokens, [XeroTenant(**t) for t in data["tenants"]])


def xero_redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}/connections/xero/callback"


def xero_authorization(ledgers: Ledgers, settings: Settings) -> AuthorizationRequest:
    """Where to send the person to sign in to Xero, with the state and PKCE verifier that
    the callback must bring back."""
    return ledgers.xero_oauth.authorization_request(xero_redirect_uri(settings))


async def redeem_xero_code(
    ledgers: Ledgers, settings: Settings, code: str, code_verifier: str
) -> Grant:
    try:
        tokens = await ledgers.xero_oauth.exchange_code(
            code, xero_redirect_uri(settings), code_verifier
        )
    except LedgerAuthError as refused:
        raise GrantRefused(str(refused)) from refused
    return Grant(tokens, await ledgers.xero_oauth.tenants(tokens.access_token))


async def connect_xero_tenant(
    db: Database, ledgers: Ledgers, organisation_id: int, grant: Grant, tenant_id: str
) -> Connection:
    """Store the chosen tenant's connection and drop the others from the grant. The caller
    then asks for the first sync (duely.ledgers.sync_schedule.request_sync): the grant is kept even
    when Temporal cannot be reached, since its one-time code cannot be redeemed again."""
    tenant = next(t for t in grant.tenants if t.tenant_id == tenant_id)
    async with db.session() as session:
        connection = await save_connection(
            session,
            ledgers.box,
            organisation_id=organisation_id,
            provider=Provider.XERO,
            tenant_id=tenant.tenant_id,
            tenant_name=tenant.name,
            tokens=grant.tokens,
        )
    for other in grant.tenants:
        if other.tenant_id != tenant_id:
            try:
                await ledgers.xero_oauth.disconnect(grant.tokens.access_token, other.connection_id)
            except httpx.HTTPError as error:  # hygiene only: the chosen tenant works anyway
                log.warning("could not drop Xero tenant %s from the grant: %s", other.name, error)
    return connection


def quickbooks_redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}/connections/quickbooks/callback"


def quickbooks_authorization(ledgers: Ledgers, settings: Settings) -> AuthorizationRequest:
    """Where to send the person to sign in to QuickBooks and pick a company."""
    return ledgers.quickbooks_oauth.authorization_request(quickbooks_redirect_uri(settings))


async def connect_quickbooks_company(
    db: Database,
    ledgers: Ledgers,
    settings: Settings,
    organisation_id: int,
    code: str,
    code_verifier: str,
    realm_id: str,
) -> Connection:
    """Redeem the code and store the company's connection (one grant covers one company),
    named as QuickBooks names the company. The caller then asks for the first sync."""
    try:
        tokens = await ledgers.quickbooks_oauth.exchange_code(
            code, quickbooks_redirect_uri(settings), code_verifier
        )
    except LedgerAuthError as refused:
        raise GrantRefused(str(refused)) from refused
    async with db.session() as session:
        connection = await save_connection(
            session,
            ledgers.box,
            organisation_id=organisation_id,
            provider=Provider.QUICKBOOKS,
            tenant_id=realm_id,
            tenant_name="",
            tokens=tokens,
        )
    profile = await ledger_profile(ledgers, connection)
    if profile is not None and profile.name:
        async with db.session() as session:
            stored = await session.get(Connection, connection.id)
            if stored is not None:
                stored.tenant_name = profile.name
                await session.commit()
                connection = stored
    return connection


async def ledger_profile(ledgers: Ledgers, connection: Connection) -> LedgerOrganisation | None:
    """What the ledger says about the business, to pre-fill the settings to confirm."""
    try:
        return await ledgers.open(connection).organisation()
    except LedgerError as error:
        log.warning("could not read the ledger's organisation profile: %s", error)
        return None


class ConnectRefused(Exception):
    """Why the ledger would not connect, in words for the person at the form; `location` is
    where the company really is, when that was the trouble."""

    def __init__(self, reason: str, location: str = "") -> None:
        super().__init__(reason)
        self.location = location


ACCOUNTSIQ_LOCATIONS = LOCATIONS


async def connect_accountsiq_company(
    db: Database,
    ledgers: Ledgers,
    organisation_id: int,
    *,
    company_id: str,
    user_key: str,
    location: str,
) -> Connection:
    """Sign in with what the person pasted (stray spaces and commas dropped) and store the
    company's connection (its User Key encrypted as the session's renewal, its location).
    The caller then asks for the first sync. ConnectRefused explains the two usual
    mistakes: the wrong location, and a key that is malformed or was revoked (requesting a
    new one revokes the old)."""
    credentials = Credentials.pasted(company_id, user_key, location)
    if problem := credentials.problem():
        raise ConnectRefused(problem)
    try:
        session = await ledgers.accountsiq.login(credentials)
    except NotSignedIn:
        found = await ledgers.accountsiq.locate(credentials)
        if found:
            raise ConnectRefused(
                f"Company ID {credentials.company_id} is in {LOCATIONS[found]}, not "
                f"{LOCATIONS[credentials.location]}: AccountsIQ keeps each company in one "
                "location (the start of the address you sign in at, such as "
                f"{found}.accountsiq.com). We have chosen {LOCATIONS[found]} for you: "
                "press Connect again.",
                found,
            ) from None
        raise ConnectRefused(
            f"AccountsIQ did not accept Company ID {credentials.company_id} with this User "
            "Key in any location. Check the Company ID under Setup > Company Details & "
            "Settings, and copy the User Key again from Integration > Request User Key: "
            "requesting a new key stops the old one working."
        ) from None
    except LedgerUnavailable as down:
        raise ConnectRefused(
            f"AccountsIQ could not be reached ({down}). Try again in a few minutes."
        ) from down
    async with db.session() as session_db:
        return await save_connection(
            session_db,
            ledgers.box,
            organisation_id=organisation_id,
            provider=Provider.ACCOUNTSIQ,
            tenant_id=credentials.company_id,
            tenant_name=credentials.company_id,
            tokens=session,
            region=credentials.location,
        )
