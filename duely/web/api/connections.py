"""`/api/v1/connections`: ledger connections, their sync health, and "sync now"."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, get, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from duely.models import Connection
from duely.web.api.paging import Page
from duely.web.auth import requires_collector
from duely.web.chase import ChaseEngineDown
from duely.web.connections import SYNC_ENGINE_DOWN, latest_run, sync_soon
from duely.web.deps import DbSession, get_owned


class SyncRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    full: bool
    status: str
    pages: int
    invoices_seen: int
    invoices_changed: int
    contacts_changed: int
    error: str
    started_at: datetime
    finished_at: datetime | None


class ConnectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    provider: str
    tenant_name: str
    external_tenant_id: str
    status: str
    last_success_at: datetime | None
    last_error: str
    latest_sync: SyncRunOut | None = None


class SyncRequested(BaseModel):
    connection_id: int
    status: str = "requested"


class ConnectionApiController(Controller):
    path = "/connections"
    tags = ["connections"]

    @get("/")
    async def list_connections(
        self, request: Request, db_session: DbSession
    ) -> Page[ConnectionOut]:
        rows = (
            await db_session.exec(
                select(Connection)
                .where(Connection.organisation_id == request.user.organisation_id)
                .order_by(Connection.id)
            )
        ).all()
        items = []
        for row in rows:
            out = ConnectionOut.model_validate(row)
            run = await latest_run(db_session, row.id)
            out.latest_sync = SyncRunOut.model_validate(run) if run else None
            items.append(out)
        # An organisation has a handful of connections: one page, in the shared envelope.
        return Page(items, len(items), 1, max(len(items), 1))

    @post("/{connection_id:int}/sync", guards=[requires_collector], status_code=202)
    async def sync_now(
        self, request: Request, db_session: DbSession, connection_id: FromPath[int]
    ) -> SyncRequested:
        """Sync now, or right after the sync that is running; 503, with nothing requested,
        when the engine that runs syncs (Temporal) is out of reach."""
        connection = await get_owned(
            db_session, Connection, connection_id, request.user.organisation_id
        )
        try:
            await sync_soon(request, connection)
        except ChaseEngineDown as down:
            raise ServiceUnavailableException(SYNC_ENGINE_DOWN.format(reason=down)) from down
        return SyncRequested(connection_id=connection.id)
