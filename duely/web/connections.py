"""What the connections page, the API and the webhooks share: a connection's latest sync run
and asking for a sync. Web code never talks to the ledger; it asks Temporal to sync."""

from __future__ import annotations

from litestar import Request
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Connection, SyncRun
from duely.sync_schedules import request_sync


async def latest_run(session: AsyncSession, connection_id: int) -> SyncRun | None:
    return (
        await session.exec(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
    ).first()


async def sync_soon(request: Request, connection: Connection) -> None:
    """Sync now, or right after the pass that is running."""
    state = request.app.state
    await request_sync(await state.temporal(), state.settings, connection)
