"""The ASGI layer in front of the QuickBooks API (/v3/company/{realmId}/...): the bearer token
(401 AuthenticationFault), the token's realm (403 AuthorizationFault), minorversion,
throttles (429 ThrottleExceeded) and fault injection, the way Intuit's gateway answers before
a request reaches the Accounting API.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from duely.sandbox.faults import run_with_faults, send_json
from duely.sandbox.quickbooks.errors import (
    QBFault,
    authentication_failed,
    authorization_failed,
    fault_body,
    invalid,
    system_failure,
    throttled,
)
from duely.sandbox.quickbooks.identity import ACCOUNTING_SCOPE, AccessToken

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox

ACCESS_SCOPE_KEY = "quickbooks_access"
REALM_IN_PATH = re.compile(r"/v3/company/([^/]+)")


@dataclass
class Access:
    """Who is calling: the app and its token, for the realm in the path."""

    client_id: str
    token: AccessToken
    realm_id: str


def access_of(scope: Scope) -> Access:
    return scope[ACCESS_SCOPE_KEY]  # type: ignore[typeddict-item,literal-required]


def sandbox_of(scope: Scope) -> QuickBooksSandbox:
    return scope["litestar_app"].state.quickbooks


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _minor_version_problem(scope: Scope) -> QBFault | None:
    """Any integer minorversion is accepted (below 75 is read as 75, as Intuit does since
    2025); anything else is refused."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for value in query.get("minorversion", []):
        if not value.strip().isdigit():
            return invalid(f"minorversion {value} is not supported", "2010", "minorversion")
    return None


def api_gateway(app: ASGIApp) -> ASGIApp:
    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        quickbooks = sandbox_of(scope)
        now = quickbooks.clock.now()
        match = REALM_IN_PATH.search(scope["path"])
        realm_id = match.group(1) if match else ""
        authorization = _header(scope, b"authorization")
        token = None
        if authorization.lower().startswith("bearer "):
            token = quickbooks.identity.authenticate(authorization[7:].strip())
        if token is None:
            fault = authentication_failed()
            headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'}
            await send_json(send, 401, fault_body(fault, now), headers)
            return
        if (
            token.realm_id != realm_id
            or realm_id not in quickbooks.store.companies
            or ACCOUNTING_SCOPE not in token.scope.split()
        ):
            await send_json(send, 403, fault_body(authorization_failed(), now), {})
            return
        problem = _minor_version_problem(scope)
        if problem is not None:
            await send_json(send, 400, fault_body(problem, now), {})
            return
        batch = scope["path"].rstrip("/").endswith("/batch")
        refused = quickbooks.limiter.admit(token.client_id, realm_id, batch)
        if refused:
            await send_json(send, 429, fault_body(throttled(), now), {})
            return
        try:
            scope[ACCESS_SCOPE_KEY] = Access(token.client_id, token, realm_id)  # type: ignore[typeddict-unknown-key,literal-required]
            plan = quickbooks.faults.plan(str(scope.get("method", "")), scope["path"], realm_id)
            headers = {"intuit_tid": str(uuid.uuid4())}  # Intuit's id of every answer
            await run_with_faults(app, scope, receive, send, plan, headers, _refusal(quickbooks))
        finally:
            quickbooks.limiter.release(token.client_id, realm_id)

    return gateway


def _refusal(quickbooks: QuickBooksSandbox):  # noqa: ANN202 - duely.sandbox.faults.Refusal
    def refusal(failure: str, retry_after: int) -> tuple[int, object, dict[str, str]]:
        fault = throttled() if failure == "429" else system_failure()
        return fault.status, fault_body(fault, quickbooks.clock.now()), {}

    return refusal


def oauth_gateway(app: ASGIApp) -> ASGIApp:
    """The OAuth endpoints: fault injection only (no tokens, no throttles)."""

    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        quickbooks = sandbox_of(scope)
        plan = quickbooks.faults.plan(str(scope.get("method", "")), scope["path"], None)
        await run_with_faults(app, scope, receive, send, plan, {}, _refusal(quickbooks))

    return gateway
