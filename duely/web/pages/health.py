"""`/healthz`: can duely reach its database, Temporal, and is a worker polling?

Anyone may ask, and gets only the verdict: 200 "ok" or 503 "not ok", as plain text. What is
behind it (the Temporal address, worker count, each task queue's pollers, error texts)
describes the installation, so only a signed-in admin gets it, as JSON."""

from __future__ import annotations

import asyncio
import contextlib

from litestar import MediaType, Request, Response, get
from sqlalchemy import text

from duely.core.db import Database
from duely.core.temporal.pollers import ACTIVITIES, pollers
from duely.core.temporal.queues import KINDS, queue_for
from duely.models import Role, User
from duely.web.auth import SESSION_USER_KEY

PROBE_TIMEOUT_SECONDS = 3


async def _database(db: Database) -> dict:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable"
        return {"ok": False, "error": str(error) or type(error).__name__}


async def _queue_pollers(request: Request) -> dict[str, int]:
    """Every queue's worker polls its activities: a queue nobody polls is work that waits (a
    split installation without its sync workers looks healthy from the chase queue). Asked
    for an admin only: load balancers' probes need not pay four more calls."""
    settings = request.app.state.settings
    queues = [queue_for(settings.temporal_task_queue, kind) for kind in KINDS]
    async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
        client = await request.app.state.temporal()
        polled = await asyncio.gather(*(pollers(client, queue, ACTIVITIES) for queue in queues))
    return dict(zip(queues, polled, strict=True))


async def _temporal(request: Request) -> dict:
    settings = request.app.state.settings
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            client = await request.app.state.temporal()
            workers = await pollers(client, settings.temporal_task_queue)
        return {"ok": True, "address": settings.temporal_address, "workers": workers}
    except Exception as error:  # noqa: BLE001
        return {
            "ok": False,
            "address": settings.temporal_address,
            "error": str(error) or type(error).__name__,
        }


async def _asked_by_an_admin(request: Request, db: Database) -> bool:
    """Whether the session is a signed-in admin's. The route is public, so sign-in is not
    required, only looked at; the database having just answered, it is asked who that is."""
    session = request.scope.get("session")
    user_id = session.get(SESSION_USER_KEY) if isinstance(session, dict) else None
    if not user_id:
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), db.session() as rows:
            user = await rows.get(User, user_id)
    except Exception:  # noqa: BLE001 - the database failing now: nobody is known
        return False
    return user is not None and user.role == Role.ADMIN


@get("/healthz", opt={"exclude_from_auth": True})
async def healthz(request: Request) -> Response:
    db = request.app.state.db
    database, temporal = await asyncio.gather(_database(db), _temporal(request))
    healthy = database["ok"] and temporal["ok"]
    status_code = 200 if healthy else 503
    if not (database["ok"] and await _asked_by_an_admin(request, db)):
        return Response(
            "ok" if healthy else "not ok", media_type=MediaType.TEXT, status_code=status_code
        )
    if temporal["ok"]:
        with contextlib.suppress(Exception):  # Temporal gone since: the verdict above stands
            temporal["queues"] = await _queue_pollers(request)
    body = {"status": "ok" if healthy else "degraded", "database": database, "temporal": temporal}
    return Response(body, status_code=status_code)
