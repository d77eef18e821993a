"""`/healthz`: can duely reach its database, Temporal, and is a worker polling?"""

from __future__ import annotations

import asyncio

from litestar import Request, Response, get
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from duely.db import Database

PROBE_TIMEOUT_SECONDS = 3


async def _database(db: Database) -> dict:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable"
        return {"ok": False, "error": str(error) or type(error).__name__}


async def _temporal(request: Request) -> dict:
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            client = await request.app.state.temporal()
            description = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=settings.temporal_namespace,
                    task_queue=TaskQueue(name=settings.temporal_task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        return {
            "ok": True,
            "address": settings.temporal_address,
            "workers": len(description.pollers),
        }
    except Exception as error:  # noqa: BLE001
        return {
            "ok": False,
            "address": settings.temporal_address,
            "error": str(error) or type(error).__name__,
        }


@get("/healthz", opt={"exclude_from_auth": True})
async def healthz(request: Request) -> Response[dict]:
    database, temporal = await asyncio.gather(_database(request.app.state.db), _temporal(request))
    healthy = database["ok"] and temporal["ok"]
    body = {"status": "ok" if healthy else "degraded", "database": database, "temporal": temporal}
    return Response(body, status_code=200 if healthy else 503)
