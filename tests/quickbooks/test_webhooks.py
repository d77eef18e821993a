"""QuickBooks' webhooks into duely: the sandbox signs each delivery with `intuit-signature`, in
the legacy or the CloudEvents shape, and duely asks Temporal (the dev server) to sync the
company; a forged body gets 401, a signed one in neither shape 400 and is kept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from sqlmodel import select
from temporalio.service import RPCError

from duely.core.db import Database
from duely.core.security import SecretBox
from duely.core.temporal.names import sync_schedule_id
from duely.integrations.ledgers.connections import save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.models import Provider, WebhookEvent, utcnow
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.webhooks import WebhookSettings
from duely.web.app import create_app
from duely.web.webhooks import hmac_signature
from tests.live import forget_this_tests_workflows
from tests.serving import serve, shut
from tests.waiting import eventually

CLIENT_ID, CLIENT_SECRET, VERIFIER = "duely-qb-hooks", "duely-qb-hooks-secret", "verifier-1"


@pytest_asyncio.fixture(params=["legacy", "cloudevents"])
async def hooked(request, live_settings, duely_port, org_a, dev_server_env) -> AsyncIterator:
    duely_url = f"http://127.0.0.1:{duely_port}"
    sandbox = QuickBooksSandbox(webhook_settings=WebhookSettings(batch_delay=0.05))
    sandbox.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        "duely",
        [f"{duely_url}/connections/quickbooks/callback"],
        f"{duely_url}/webhooks/quickbooks",
        VERIFIER,
        request.param,
    )
    company = sandbox.add_company("Hooked Ltd", 20, seed=71)
    settings = live_settings.model_copy(update={"quickbooks_verifier_token": VERIFIER})
    answer = sandbox.connect(CLIENT_ID, company.realm_id)
    database = Database(settings.resolved_database_url)
    async with database.session() as session:
        connection = await save_connection(
            session,
            SecretBox(settings.resolved_secret_key),
            organisation_id=org_a.id,
            provider=Provider.QUICKBOOKS,
            tenant_id=company.realm_id,
            tenant_name=company.name,
            tokens=OAuthTokens(
                answer.access_token,
                answer.refresh_token,
                utcnow() + timedelta(seconds=answer.expires_in),
            ),
        )
    await database.dispose()
    served = await serve(create_app(settings), duely_port)
    try:
        async with httpx.AsyncClient(base_url=served.url) as duely:
            yield sandbox, company, connection, duely
    finally:
        await shut(served)
        await forget_this_tests_workflows(dev_server_env.client)


async def test_a_change_in_quickbooks_asks_for_a_sync_of_the_company(hooked, dev_server_env):
    sandbox, company, connection, _ = hooked
    invoice = next(iter(company.invoices.values()))
    sandbox.store.pay_in_full(company.realm_id, invoice.id)
    await sandbox.webhooks.wait_idle()
    schedule = dev_server_env.client.get_schedule_handle(sync_schedule_id(connection.id))

    async def asked() -> bool:
        try:
            return (await schedule.describe()).info.num_actions >= 1
        except RPCError:  # no schedule yet: nothing asked
            return False

    await eventually(asked, "duely never asked Temporal for a sync of the company")


async def test_forged_and_unreadable_deliveries(hooked, db):
    _, company, _, duely = hooked
    body = json.dumps({"eventNotifications": [{"realmId": company.realm_id}]}).encode()
    forged = await duely.post(
        "/webhooks/quickbooks", content=body, headers={"intuit-signature": "not-it"}
    )
    assert forged.status_code == 401
    odd = b'{"something": "else"}'
    signed = {"intuit-signature": hmac_signature(odd, VERIFIER)}
    kept = await duely.post("/webhooks/quickbooks", content=odd, headers=signed)
    assert kept.status_code == 400
    db.expire_all()
    (stored,) = db.exec(select(WebhookEvent).where(WebhookEvent.provider == "quickbooks")).all()
    assert "neither" in stored.last_error and stored.payload == odd.decode()
