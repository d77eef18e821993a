"""The chase on a QuickBooks company, end to end: a real worker on the dev server syncs the
company through duely's sync workflow, a reminder goes out by real SMTP, and an invoice paid
in QuickBooks before the send is not reminded (the outbox re-reads it from QuickBooks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.connections import Ledgers, save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.ledgers.sync_schedule import request_sync
from duely.models import Event, Invoice, InvoiceStatus, Provider, utcnow
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.oauth import TOKEN_PATH
from duely.worker import build_worker
from tests.live import forget_this_tests_workflows
from tests.serving import serve, shut
from tests.waiting import eventually
from tests.xero.conftest import wait_for_runs
from tests.xero.test_chasing import always_open

CLIENT_ID, CLIENT_SECRET = "duely-qb-chase", "duely-qb-chase-secret"


@pytest_asyncio.fixture
async def chased(live_settings, smtp_server, dev_server_env, db, org_a) -> AsyncIterator:
    """A 40-invoice QuickBooks company connected to org A and synced by a real worker; every
    invoice due well ahead, so nothing is sent until a test asks."""
    always_open(db, org_a.id)
    sandbox = QuickBooksSandbox()
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", ["http://127.0.0.1:9/cb"])
    company = sandbox.add_company("Chased Ltd", 40, seed=81)
    later = (sandbox.clock.today() + timedelta(days=60)).isoformat()
    for invoice_id in list(company.invoices):
        sandbox.store.edit_invoice(company.realm_id, {"Id": invoice_id, "DueDate": later})
    served = await serve(create_sandbox_app(quickbooks=sandbox))
    base = f"{served.url}/quickbooks"
    _, smtp_url = smtp_server
    settings = live_settings.model_copy(
        update={
            "smtp_url": smtp_url,
            "outbox_gather_seconds": 1,
            "quickbooks_client_id": CLIENT_ID,
            "quickbooks_client_secret": CLIENT_SECRET,
            "quickbooks_token_url": f"{base}{TOKEN_PATH}",
            "quickbooks_api_url": base,
        }
    )
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
    ledgers = Ledgers(settings, database, http=httpx.AsyncClient(timeout=30))
    try:
        async with build_worker(dev_server_env.client, settings, database, ledgers):
            await request_sync(dev_server_env.client, settings, connection)
            (run,) = await wait_for_runs(db, connection.id, 1)
            assert run.status == "succeeded", run.error
            yield sandbox, company
        await forget_this_tests_workflows(dev_server_env.client)
    finally:
        await ledgers.aclose()
        await database.dispose()
        await shut(served)


def open_invoices(db) -> list[Invoice]:
    db.expire_all()
    query = select(Invoice).where(Invoice.status == InvoiceStatus.OPEN).order_by(Invoice.id)
    return list(db.exec(query))


async def test_a_reminder_for_a_quickbooks_invoice_goes_out_by_email(
    chased, dev_server_env, smtp_server, db
):
    catcher, _ = smtp_server
    invoice = open_invoices(db)[0]
    await chase_control.act(dev_server_env.client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def delivered():
        return [r for r in catcher.received if invoice.number in r.message.get_content()]

    (email,) = await eventually(delivered, "the reminder never reached the mail server")
    assert f"{invoice.amount_due / 100:,.2f}" in email.message.get_content()

    async def on_timeline():
        db.expire_all()
        query = select(Event).where(Event.invoice_id == invoice.id, Event.kind == "reminder_sent")
        return db.exec(query).first()

    await eventually(on_timeline, "the reminder never reached the timeline")
