"""The worker on real Temporal servers: workflow -> activity -> database, and /healthz."""

import uuid

from litestar.testing import AsyncTestClient
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from duely.core.db import Database
from duely.core.temporal.names import SEARCH_ATTRIBUTES, health_check_workflow_id
from duely.integrations.ledgers.connections import Ledgers
from duely.web.app import create_app
from duely.worker import build_worker
from duely.workflows.health import HealthCheckWorkflow
from tests.conftest import login
from tests.waiting import eventually


async def _health_check(client, settings):
    return await client.execute_workflow(
        HealthCheckWorkflow.run,
        id=health_check_workflow_id(uuid.uuid4().hex),
        task_queue=settings.temporal_task_queue,
    )


async def _run_health_check(env, settings):
    db = Database(settings.resolved_database_url)
    try:
        async with build_worker(env.client, settings, db, Ledgers(settings, db)):
            return await _health_check(env.client, settings)
    finally:
        await db.dispose()


async def test_health_workflow_reads_the_database_time_skipping(
    time_skipping_env, settings, org_a, org_b
):
    report = await _run_health_check(time_skipping_env, settings)
    assert report.organisations == 2


async def test_dev_server_has_duelys_search_attributes(dev_server_env):
    response = await dev_server_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    expected = {
        key.name: IndexedValueType.Name(key.indexed_value_type.value) for key in SEARCH_ATTRIBUTES
    }
    registered = {
        name: IndexedValueType.Name(kind) for name, kind in response.custom_attributes.items()
    }
    assert expected.items() <= registered.items()


async def test_healthz_reports_temporal_and_a_polling_worker(dev_server_env, live_settings, org_a):
    settings = live_settings
    db = Database(settings.resolved_database_url)
    async with AsyncTestClient(app=create_app(settings)) as client:
        public = await client.get("/healthz")
        assert (public.status_code, public.text) == (200, "ok")
        await login(client, org_a.admin)  # the details are an admin's only
        idle = (await client.get("/healthz")).json()
        assert idle["database"]["ok"] and idle["temporal"]["ok"]
        async with build_worker(dev_server_env.client, settings, db, Ledgers(settings, db)):
            await _health_check(dev_server_env.client, settings)  # the worker has polled
            busy = await client.get("/healthz")
    await db.dispose()
    assert busy.status_code == 200
    assert busy.json()["temporal"]["workers"] >= 1


async def test_healthz_tells_an_admin_which_task_queues_nobody_polls(
    dev_server_env, live_settings, org_a
):
    """Split over processes (DUELY_WORKER_QUEUES), an installation whose sync workers are
    missing still looks healthy from the chase queue, while every "Sync now" and import
    waits: an admin sees each queue's pollers."""
    settings = live_settings.model_copy(update={"worker_queues": "chase,ledger,delivery"})
    base = settings.temporal_task_queue
    db = Database(settings.resolved_database_url)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, org_a.admin)
        async with build_worker(dev_server_env.client, settings, db, Ledgers(settings, db)):

            async def polled() -> dict | None:
                queues = (await client.get("/healthz")).json()["temporal"]["queues"]
                return queues if queues[base] and queues[f"{base}-delivery"] else None

            queues = await eventually(polled, "the worker's queues never showed polled")
    await db.dispose()
    assert queues[f"{base}-sync"] == 0
    assert queues[f"{base}-ledger"] >= 1


async def test_healthz_says_what_is_down_to_an_admin_only(client, org_a):
    public = await client.get("/healthz")
    assert (public.status_code, public.text) == (503, "not ok")
    await login(client, org_a.admin)
    response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == {"ok": True}
    assert body["temporal"]["ok"] is False and "127.0.0.1:1" in body["temporal"]["address"]
