"""The ASGI layer in front of the SOAP endpoint: fault injection (latency, a 500 answered as
ASMX answers an unhandled exception, a soap:Fault; an answer held back; a dropped answer).
AccountsIQ documents no rate limit, so there is no throttle and no 429. A fault rule's
`tenant_id` names the region (us1, eu1, eu2, uk1) the request went to.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from duely.sandbox.accountsiq.soap import CONTENT_TYPE, fault
from duely.sandbox.faults import run_with_faults

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from duely.sandbox.accountsiq.sandbox import AccountsIQSandbox

REGION_IN_PATH = re.compile(r"/accountsiq/([^/]+)/")
INJECTED = "Server was unable to process request. ---> The sandbox injected this fault."


def sandbox_of(scope: Scope) -> AccountsIQSandbox:
    return scope["litestar_app"].state.accountsiq


async def _send_fault(send: Send) -> None:
    payload = fault("soap:Server", INJECTED)
    headers = [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def soap_gateway(app: ASGIApp) -> ASGIApp:
    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        accountsiq = sandbox_of(scope)
        match = REGION_IN_PATH.search(scope["path"])
        region = match.group(1) if match else None
        # A rule may name the operation too ("...asmx#GetInvoicesBy"): every call is a POST
        # to one path, and only the SOAPAction header says which operation it is.
        action = _header(scope, b"soapaction").strip('"').rsplit("/", 1)[-1]
        target = f"{scope['path']}#{action}" if action else scope["path"]
        plan = accountsiq.faults.plan(str(scope.get("method", "")), target, region)
        if plan.failure in ("429", "500"):
            if plan.latency_ms:
                await asyncio.sleep(plan.latency_ms / 1000)
            await _send_fault(send)
            return
        await run_with_faults(app, scope, receive, send, plan, {}, _never)

    return gateway


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _never(failure: str, retry_after: int) -> tuple[int, object, dict[str, str]]:
    raise AssertionError("handled above")
