"""What connecting to Xero asks beyond what every ledger does (tests/ledgers proves that for
Xero and QuickBooks alike): every request matches Xero's own API description, a grant covering
several organisations asks which, and a connection made while Temporal is down is kept."""

import httpx
import pytest
from sqlmodel import select

from duely.models import (
    ChaseMode,
    Connection,
    Organisation,
    SyncStatus,
)
from duely.web.app import create_app
from tests.conftest import NO_TEMPORAL
from tests.sandbox.xero_contract import assert_request_matches_spec, require_xero_specs
from tests.serving import serve, shut
from tests.xero.conftest import (
    connect_through_oauth,
    only_connection,
    wait_for_runs,
)


@pytest.fixture(autouse=True)
def chasing_off(db, org_a):
    """These tests are about mirroring the ledger; tests/xero/test_chasing.py is about what
    chasing does with it. With chasing off, a sync starts no chase workflows."""
    organisation = db.get(Organisation, org_a.id)
    organisation.chase_mode = ChaseMode.OFF
    db.commit()


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
