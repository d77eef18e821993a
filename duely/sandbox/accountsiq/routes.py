"""The AccountsIQ sandbox's routes, all under /accountsiq:

- POST /accountsiq/{region}/system/dashboard/integration/integration_1_1.asmx: the
  Integration 1.1 SOAP service of the region's host (us1, eu1, eu2, uk1; another region has no
  host: 404), behind the fault-injection gateway
- /accountsiq/admin/...: the sandbox's own admin API (JSON)
"""

from __future__ import annotations

from litestar import Request, Response, Router, post
from litestar.params import FromPath

from duely.sandbox.accountsiq import service, soap
from duely.sandbox.accountsiq.admin import AccountsIQAdmin
from duely.sandbox.accountsiq.company import REGIONS
from duely.sandbox.accountsiq.gateway import soap_gateway

ACCOUNTSIQ_PREFIX = "/accountsiq"
ASMX = "/{region:str}/system/dashboard/integration/integration_1_1.asmx"


def _xml(payload: bytes, status: int) -> Response:
    return Response(
        payload,
        status_code=status,
        media_type="text/xml",
        headers={"content-type": soap.CONTENT_TYPE},
    )


@post(ASMX, status_code=200)
async def integration_1_1(request: Request, region: FromPath[str]) -> Response:
    if region not in REGIONS:
        return Response("Not Found", status_code=404, media_type="text/plain")
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("text/xml"):
        # ASMX's SOAP 1.1 binding reads text/xml only (SOAP 1.2 is application/soap+xml).
        return Response("Unsupported Media Type", status_code=415, media_type="text/plain")
    body = await request.body()
    store = request.app.state.accountsiq.store
    try:
        operation, element = soap.operation_element(body, request.headers.get("soapaction", ""))
        payload = service.answer(store, region, operation, element)
    except soap.SoapFault as refusal:
        return _xml(soap.fault(refusal.faultcode, refusal.faultstring), 500)
    return _xml(payload, 200)


def create_accountsiq_router() -> Router:
    soap_router = Router("/", route_handlers=[integration_1_1], middleware=[soap_gateway])
    return Router(ACCOUNTSIQ_PREFIX, route_handlers=[soap_router, AccountsIQAdmin])
