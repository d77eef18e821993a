"""Connecting to Xero through the real OAuth redirects and mirroring it: the issue's "done when"
against the sandbox, with a real worker on Temporal's dev server."""

import random

import httpx
import pytest
from sqlmodel import func, select

from duely.ledgers.sync_schedule import request_sync
from duely.models import (
    ChaseMode,
    Connection,
    ConnectionStatus,
    Customer,
    Invoice,
    Organisation,
    SyncStatus,
)
from duely.sandbox.xero.faults import FaultRule
from duely.web.app import create_app
from tests.conftest import NO_TEMPORAL, api_token
from tests.sandbox.xero_contract import assert_request_matches_spec, require_xero_specs
from tests.serving import serve, shut
from tests.xero.conftest import (
    connect_directly,
    connect_through_oauth,
    only_connection,
    wait_for_runs,
)


def sales_invoices(ledger) -> dict:
    return {i.invoice_id: i for i in ledger.invoices.values() if i.kind == "ACCREC"}


@pytest.fixture(autouse=True)
def chasing_off(db, org_a):
    """These tests are about mirroring the ledger; tests/xero/test_chasing.py is about what
    chasing does with it. With chasing off, a sync starts no chase workflows."""
    organisation = db.get(Organisation, org_a.id)
    organisation.chase_mode = ChaseMode.OFF
    db.commit()


async def test_connect_confirm_settings_and_first_sync(xero, worker, duely, db, org_a):
    ledger = xero.add_tenant("Kiwi Widgets Ltd", 400, seed=5, country="NZ")
    callback = await connect_through_oauth(duely, org_a.admin)
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == "/settings/organisation?connected=1"

    confirm = await duely.get("/settings/organisation?connected=1")
    assert "Connected to Xero · Kiwi Widgets Ltd" in confirm.text
    assert 'value="Kiwi Widgets Ltd"' in confirm.text  # the ledger's profile, to confirm
    assert "<option selected>Pacific/Auckland</option>" in confirm.text

    connection = only_connection(db)
    [run] = await wait_for_runs(db, connection.id, 1)
    assert run.status == SyncStatus.SUCCEEDED and run.full
    expected = sales_invoices(ledger)
    assert run.invoices_changed == len(expected)
    mirrored = {i.external_id: i for i in db.exec(select(Invoice)).all()}
    assert mirrored.keys() == expected.keys()
    for external_id in random.Random(1).sample(sorted(expected), 25):
        theirs, ours = expected[external_id], mirrored[external_id]
        assert (ours.number, ours.due_date, ours.currency) == (
            theirs.number,
            theirs.due_date,
            theirs.currency,
        )
        assert (ours.total, ours.amount_due) == (theirs.total, theirs.amount_due)
    customers = db.exec(select(func.count()).select_from(Customer)).one()
    customer_contacts = {c.contact_id for c in ledger.contacts.values() if c.is_customer}
    assert customers == len(customer_contacts | {i.contact_id for i in expected.values()})
    placeholders = db.exec(select(Customer).where(Customer.source_updated_at == None)).all()  # noqa: E711
    assert placeholders == []  # every customer has its contact details

    # Tokens rest encrypted, never in clear.
    stored = only_connection(db)
    tokens = xero.identity.state.access_tokens
    assert stored.access_token_encrypted and not any(
        t in stored.access_token_encrypted for t in tokens
    )


async def test_every_request_of_a_connect_and_sync_matches_xeros_spec(
    xero, worker, duely, db, org_a
):
    require_xero_specs()
    xero.add_tenant("Spec Widgets Ltd", 40, seed=6)
    callback = await connect_through_oauth(duely, org_a.admin)
    assert callback.status_code == 302, callback.text
    [run] = await wait_for_runs(db, only_connection(db).id, 1)
    assert run.status == SyncStatus.SUCCEEDED

    accounting = [r for r in worker.requests if "/api.xro/2.0/" in r.url.path]
    assert accounting
    for request in accounting:
        assert_request_matches_spec(
            request.method,
            request.url.path,
            dict(request.url.params),
            dict(request.headers),
            request.content or None,
        )


async def test_a_grant_covering_several_organisations_asks_which(xero, worker, duely, db, org_a):
    xero.add_tenant("First Org", 20, seed=1)
    chosen = xero.add_tenant("Second Org", 20, seed=2)
    callback = await connect_through_oauth(duely, org_a.admin)
    assert callback.headers["location"] == "/connections/xero/choose"
    page = await duely.get("/connections/xero/choose")
    assert "First Org" in page.text and "Second Org" in page.text
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    chose = await duely.post(
        "/connections/xero/choose",
        follow_redirects=False,
        data={"tenant_id": chosen.tenant_id, "_csrf_token": token},
    )
    assert chose.status_code == 302
    assert only_connection(db).external_tenant_id == chosen.tenant_id
    # The grant now covers only the organisation the user chose.
    covered = {c.tenant_id for c in xero.identity.state.connections.values()}
    assert covered == {chosen.tenant_id}


async def test_sync_now_brings_exactly_the_changed_invoices(xero, worker, duely, db, org_a):
    ledger = xero.add_tenant("Acme", 600, seed=8)
    await connect_through_oauth(duely, org_a.admin)
    connection = only_connection(db)
    await wait_for_runs(db, connection.id, 1)

    touched = set(
        xero.store.touch_invoices(ledger.organisation.organisation_id, 50, random.Random(3))
    )
    headers = await api_token(duely, org_a.collector)
    response = await duely.post(f"/api/v1/connections/{connection.id}/sync", headers=headers)
    assert response.status_code == 202
    first, second = await wait_for_runs(db, connection.id, 2)
    assert second.status == SyncStatus.SUCCEEDED and not second.full
    assert second.invoices_changed == 50
    db.expire_all()
    changed = {
        i.external_id
        for i in db.exec(select(Invoice).where(Invoice.synced_run_id == second.id)).all()
    }
    assert changed == touched
    assert second.invoices_seen < first.invoices_seen  # incremental, not everything again


async def test_a_429_storm_slows_the_sync_but_never_fails_it(xero, worker, duely, db, org_a):
    ledger = xero.add_tenant("Stormy", 2500, seed=4)
    xero.faults.replace([FaultRule(path_contains="/Invoices", rate_429=0.5, retry_after=1)], seed=7)
    await connect_through_oauth(duely, org_a.admin)
    [run] = await wait_for_runs(db, only_connection(db).id, 1, seconds=90)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.invoices_changed == len(sales_invoices(ledger))
    injected = [r for r in worker.requests if "/Invoices" in r.url.path]
    assert len(injected) > run.pages  # some calls were refused and retried
    assert not xero.limiter.refused, "duely went over Xero's own limits"


async def test_a_dead_refresh_token_asks_for_reconnect(xero, worker, duely, db, org_a):
    xero.add_tenant("Gone Ltd", 30, seed=9)
    await connect_through_oauth(duely, org_a.admin)
    connection = only_connection(db)
    await wait_for_runs(db, connection.id, 1)

    for grant in list(xero.identity.state.grants):
        xero.identity.revoke_grant(grant)
    xero.clock.advance(31 * 60)  # the access token is past its 30 minutes too
    headers = await api_token(duely, org_a.admin)
    await duely.post(f"/api/v1/connections/{connection.id}/sync", headers=headers)
    _, failed = await wait_for_runs(db, connection.id, 2)
    assert failed.status == SyncStatus.FAILED
    connection = only_connection(db)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "Reconnect to Xero" in connection.last_error
    page = await duely.get("/connections")
    assert "Reconnect to Xero" in page.text and "paused until you reconnect" in page.text

    # Reconnecting through OAuth brings the same connection back.
    await connect_through_oauth(duely, org_a.admin)
    assert only_connection(db).status == ConnectionStatus.CONNECTED
    assert db.exec(select(func.count()).select_from(Connection)).one() == 1


async def test_ten_thousand_invoices_sync_and_match_the_ledger(
    xero, worker, dev_server_env, xero_settings, db, org_a
):
    tenant = xero.add_tenant("Big Books Ltd", 10_000, seed=99)
    connection = await connect_directly(xero, xero_settings, org_a.id, tenant, "duely-test")
    await request_sync(dev_server_env.client, xero_settings, connection)
    [run] = await wait_for_runs(db, connection.id, 1, seconds=120)
    assert run.status == SyncStatus.SUCCEEDED
    expected = sales_invoices(tenant)
    assert db.exec(select(func.count()).select_from(Invoice)).one() == len(expected) > 9000
    due = db.exec(select(func.sum(Invoice.amount_due))).one()
    assert due == sum(i.amount_due for i in expected.values())
    assert not xero.limiter.refused


async def test_connecting_while_temporal_is_down_keeps_the_connection_and_says_so(
    xero, xero_settings, duely_port, db, org_a
):
    """Issue 12: finishing the Xero connection answered 500 with Temporal down, and the
    one-time code was spent. Now the connection is kept and the person is told to sync later."""
    xero.add_tenant("Offline Widgets Ltd", 5, seed=9)
    settings = xero_settings.model_copy(update={"temporal_address": NO_TEMPORAL})
    served = await serve(create_app(settings), duely_port)
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as duely:
            callback = await connect_through_oauth(duely, org_a.admin)
            assert callback.status_code == 302, callback.text
            page = await duely.get(callback.headers["location"])
    finally:
        await shut(served)
    assert page.status_code == 200
    assert "Connected, but the first sync could not start" in page.text
    assert "Press Sync now" in page.text
    (connection,) = db.exec(select(Connection).where(Connection.organisation_id == org_a.id))
    assert connection.tenant_name == "Offline Widgets Ltd"
