"""The demo organisation of `duely up`, connected to the sandbox's demo Xero organisation
through the real OAuth code path, with its first sync requested."""

from __future__ import annotations

from sqlmodel import select

from duely.accounts import DEMO_ORGANISATION
from duely.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.ledger_connect import connect_xero_tenant, redeem_xero_code, xero_redirect_uri
from duely.models import Connection, Organisation
from duely.sandbox.xero.consent import allow_access
from duely.settings import Settings
from duely.temporal_client import connect_with_retry


async def connect_demo_ledger(settings: Settings) -> bool:
    """Connect the demo organisation to the sandbox unless it already is; True if it did."""
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    try:
        async with db.session() as session:
            organisation = (
                await session.exec(
                    select(Organisation).where(Organisation.name == DEMO_ORGANISATION)
                )
            ).one()
            if (
                await session.exec(
                    select(Connection).where(Connection.organisation_id == organisation.id)
                )
            ).first():
                return False
        authorization = ledgers.xero_oauth.authorization_request(xero_redirect_uri(settings))
        answer = await allow_access(authorization.url)
        if answer.get("state") != authorization.state or "code" not in answer:
            raise RuntimeError(f"the sandbox did not grant access: {answer}")
        grant = await redeem_xero_code(
            ledgers, settings, answer["code"], authorization.code_verifier
        )
        temporal = await connect_with_retry(settings)
        await connect_xero_tenant(
            db, ledgers, temporal, settings, organisation.id, grant, grant.tenants[0].tenant_id
        )
        return True
    finally:
        await ledgers.aclose()
        await db.dispose()
