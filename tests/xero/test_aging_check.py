# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""duely's receivables against Xero's own aged receivables report: equal for a seeded company
after a sync (credit notes, overpayments and prepayments included), a difference is one alert,
and a customer Xero changed since the last sync waits for the next check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlmodel import select, update
from temporalio.testing import ActivityEnvironment

from duely.activities.sync import LedgerSyncActivities
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.aging_check import ALERT_KIND, CUSTOMERS_PER_CONNECTION, check_aging
from duely.models import Alert, Customer, Invoice
from duely.sandbox.xero.sandbox import DEMO_INVOICES, DEMO_SEED, DEMO_TENANT_NAME
from duely.workflows.aging_check import AgingCheckWorkflow
from tests.xero.conftest import connect_directly
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    chases_settled,
    chasing_settings,
    connected_tenant,
    open_invoices,
    synced,
    xero_settings,
)


@pytest_asyncio.fixture
async def ledgers(chasing_settings) -> AsyncIterator[tuple[Database, Ledgers]]:
    database = Database(chasing_settings.resolved_database_url)
    ledgers = Ledgers(chasing_settings, database)
    yield database, ledgers
    await ledgers.aclose()
    await database.dispose()


def alerts(db) -> list[Alert]:
    db.expire_all()
    return list(db.exec(select(Alert).where(Alert.kind == ALERT_KIND)))


async def test_duelys_aging_equals_xeros_aged_receivables_report_after_a_sync(
    worker, synced, dev_server_env, chasing_settings, db, org_a
):
    tenant, _ = synced
    credited = {c.contact_id.lower() for c in tenant.credit_notes.values() if c.remaining}
    done = await dev_server_env.client.execute_workflow(
        AgingCheckWorkflow.run,
        id=f"aging-check-test-{org_a.id}",
        task_queue=chasing_settings.temporal_task_queue,
    )

    assert done.checked >= 10 and done.mismatched == [] and done.problems == []
    assert alerts(db) == []
    # Some of the customers checked hold credit: the comparison is net of it.
    customers = {c.external_id.lower() for c in db.exec(select(Customer))}
    assert credited & customers


async def test_a_difference_from_xero_is_one_alert_naming_the_customer(
    worker, synced, ledgers, db, org_a
):
    database, registry = ledgers
    invoice = open_invoices(db)[0]
    name = db.get(Customer, invoice.customer_id).name
    await chases_settled(db)
    # A change the mirror got wrong, in one statement from a fresh transaction (SQLite
    # refuses a writer whose snapshot another writer has moved past).
    db.rollback()
    db.exec(
        update(Invoice)
        .where(Invoice.id == invoice.id)
        .values(amount_due=Invoice.amount_due + 1_000)
    )
    db.commit()

    first = await check_aging(database, registry)
    again = await check_aging(database, registry)

    assert first.mismatched == [name] and again.mismatched == [name]
    (alert,) = alerts(db)
    assert name in alert.detail and "aged receivables report" in alert.detail


async def test_a_customer_xero_changed_since_the_last_sync_waits_for_the_next_check(
    worker, synced, xero, ledgers, db, org_a
):
    tenant, _ = synced
    database, registry = ledgers
    invoice = open_invoices(db)[0]
    xero.clock.advance(5)  # Xero stamps the change after the sync's watermark
    in_xero = tenant.invoices[invoice.external_id.lower()]
    xero.store.update_invoice(
        tenant.tenant_id, in_xero.invoice_id, {"amount_due": in_xero.amount_due - 1_000}
    )

    done = await check_aging(database, registry)

    assert done.left_for_later >= 1 and done.mismatched == []
    assert alerts(db) == []


async def test_duelys_aging_equals_the_demo_companys_report(xero, chasing_settings, ledgers, org_a):
    """The company `duely up` connects (300 invoices, credit of every kind), mirrored by the
    sync's own activities (no worker: nothing is chased), then checked customer by customer."""
    database, registry = ledgers
    tenant = xero.add_tenant(DEMO_TENANT_NAME, DEMO_INVOICES, seed=DEMO_SEED)
    connection = await connect_directly(xero, chasing_settings, org_a.id, tenant, "duely-test")
    sync = LedgerSyncActivities(chasing_settings, database, registry)
    env = ActivityEnvironment()
    plan = await env.run(sync.begin_sync, connection.id)
    await env.run(sync.sync_contacts, plan)
    await env.run(sync.sync_invoices, plan)

    done = await check_aging(database, registry)

    assert done.checked == CUSTOMERS_PER_CONNECTION and done.problems == []
    assert done.mismatched == []
