"""The sync activities on their own: resuming a pass after a crash, and the periodic full pass."""

import dataclasses
from datetime import timedelta

import pytest
from sqlmodel import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duely.activities.sync import LedgerSyncActivities, PassProgress
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.ledgers.xero import api as xero_api
from duely.models import Connection, Invoice, utcnow
from duely.sandbox.xero.ledger import SALES


async def _activities(xero_settings, http=None):
    db = Database(xero_settings.resolved_database_url)
    return LedgerSyncActivities(xero_settings, db, Ledgers(xero_settings, db, http=http)), db


async def test_a_pass_resumes_from_its_last_heartbeat(xero, xero_settings, connected, db):
    tenant, connection, _ = connected
    activities, database = await _activities(xero_settings)
    plan = await ActivityEnvironment().run(activities.begin_sync, connection.id)

    # A worker died after heartbeating that page 1 was done and page 2 comes next.
    cursor = utcnow() - timedelta(days=3650)
    progress = PassProgress(
        next_cursor=cursor.isoformat(), next_page=2, pages=1, seen=1000, changed=1000
    )
    resumed = ActivityEnvironment()
    resumed.info = dataclasses.replace(
        resumed.info, heartbeat_details=[dataclasses.asdict(progress)], attempt=2
    )
    result = await resumed.run(activities.sync_invoices, plan)
    # It carried on from the heartbeat: counts continue, and it did not start again at page 1
    # (the tenant has 80 invoices, all on page 1, so page 2 is empty and nothing is mirrored).
    assert result.pages == 2 and result.seen == 1000 and result.changed == 1000
    assert db.exec(select(func.count()).select_from(Invoice)).one() == 0
    await database.dispose()


async def test_a_full_pass_runs_when_the_last_one_is_old(xero_settings, connected, db):
    _, connection, _ = connected
    activities, database = await _activities(xero_settings)
    first = await ActivityEnvironment().run(activities.begin_sync, connection.id)
    assert first.full and first.invoices_since is None

    stored = db.get(Connection, connection.id)
    stored.last_full_sync_at = utcnow() - timedelta(hours=1)
    stored.sync_watermark = utcnow() - timedelta(minutes=20)
    db.add(stored)
    db.commit()
    incremental = await ActivityEnvironment().run(activities.begin_sync, connection.id)
    assert not incremental.full and incremental.invoices_since is not None

    stored.last_full_sync_at = utcnow() - timedelta(hours=xero_settings.full_reconcile_hours + 1)
    db.add(stored)
    db.commit()
    due = await ActivityEnvironment().run(activities.begin_sync, connection.id)
    assert due.full and due.invoices_since is None
    await database.dispose()


async def test_a_pass_hands_over_between_pages_when_its_worker_stops(
    xero, xero_settings, connected, db, monkeypatch
):
    """A first sync's pass reads page after page (a minute and more at Xero's pace): a stop
    waited for all of them. It hands over after the page in hand, and the next worker goes
    on from that page's heartbeat."""
    monkeypatch.setattr(xero_api, "PAGE_SIZE", 20)  # the tenant's 80 invoices on 4-5 pages
    tenant, connection, _ = connected
    sales = sum(invoice.kind == SALES for invoice in tenant.invoices.values())
    activities, database = await _activities(xero_settings)
    plan = await ActivityEnvironment().run(activities.begin_sync, connection.id)
    heartbeats: list[dict] = []
    stopping = ActivityEnvironment()

    def heard(progress: dict) -> None:
        heartbeats.append(progress)
        if progress["pages"] == 1:  # a deploy, while the second page was being read
            stopping.worker_shutdown()

    stopping.on_heartbeat = heard
    with pytest.raises(ApplicationError, match="the worker is stopping"):
        await stopping.run(activities.sync_invoices, plan)
    assert heartbeats[-1]["pages"] == 1 and heartbeats[-1]["seen"] == 20, heartbeats
    assert db.exec(select(func.count()).select_from(Invoice)).one() == 20

    resumed = ActivityEnvironment()
    resumed.info = dataclasses.replace(resumed.info, heartbeat_details=[heartbeats[-1]], attempt=2)
    result = await resumed.run(activities.sync_invoices, plan)
    assert result.pages >= 4 and db.exec(select(func.count()).select_from(Invoice)).one() == sales
    await database.dispose()
