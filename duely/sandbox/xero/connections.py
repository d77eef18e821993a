"""GET /connections and DELETE /connections/{id}: the tenants a grant reaches."""

from __future__ import annotations

from litestar import Request, Response, delete, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from duely.sandbox.xero.dates import connection_timestamp
from duely.sandbox.xero.gateway import access_of
from duely.sandbox.xero.sandbox import XeroSandbox


def _sandbox(request: Request) -> XeroSandbox:
    return request.app.state.xero


# Xero's documentation writes /connections, its OpenAPI spec /Connections: both answer.
@get(["/connections", "/Connections"])
async def list_connections(request: Request) -> Response:
    xero = _sandbox(request)
    access = access_of(request.scope)
    auth_event_id = request.query_params.get("authEventId")
    connections = []
    for connection in xero.identity.connections_of(access.client_id, auth_event_id):
        ledger = xero.store.ledgers.get(connection.tenant_id)
        connections.append(
            {
                "id": connection.id,
                "authEventId": connection.auth_event_id,
                "tenantId": connection.tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": ledger.organisation.name if ledger else "",
                "createdDateUtc": connection_timestamp(connection.created),
                "updatedDateUtc": connection_timestamp(connection.updated),
            }
        )
    return Response(connections, status_code=200)


@delete(["/connections/{connection_id:str}", "/Connections/{connection_id:str}"], status_code=204)
async def delete_connection(request: Request, connection_id: FromPath[str]) -> None:
    xero = _sandbox(request)
    if not xero.identity.disconnect(access_of(request.scope).client_id, connection_id.lower()):
        raise NotFoundException("Resource not found")


CONNECTION_HANDLERS = [list_connections, delete_connection]
