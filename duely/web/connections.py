"""What the connections page, the API and the webhooks share: a connection's latest sync run
and asking for a sync. Web code never talks to the ledger; it asks Temporal to sync."""

from __future__ import annotations

from litestar import Request
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection, SyncRun
from duely.web.chase import SIGNAL_SECONDS, chase_engine


async def latest_run(session: AsyncSession, connection_id: int) -> SyncRun | None:
    return (
        await session.exec(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
    ).first()


async def sync_soon(
    request: Request, connection: Connection, seconds: float = SIGNAL_SECONDS
) -> None:
    """Sync now, or right after the pass that is running. ChaseEngineDown when Temporal, which
    runs the syncs, cannot be reached within `seconds`: then nothing was asked for, and the
    connection's scheduled syncs carry on once Temporal is back."""
    state = request.app.state
    async with chase_engine(state, seconds) as client:
        await request_sync(client, state.settings, connection)


SYNC_ENGINE_DOWN = (
    "The sync could not be requested: the engine that runs syncs (Temporal) could not be "
    "reached ({reason}). Nothing was changed; try again in a moment."
)
"""What a person is told when "Sync now" meets ChaseEngineDown."""
