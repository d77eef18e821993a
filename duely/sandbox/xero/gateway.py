"""The ASGI layer in front of Xero's API: bearer tokens, tenants and scopes, rate limits and
fault injection, the way Xero's gateway answers before a request reaches the Accounting API.

Routes the sandbox does not emulate under /api.xro/2.0 (another resource, another method, a
path below one it has) pass the gateway like any call and then answer as Xero answers an
unknown resource, with a warning in the sandbox's log (see `register_not_emulated`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestar import Request, Response, Router

from duely.sandbox.faults import FaultPlan, run_with_faults, send_json
from duely.sandbox.routing import register_fallbacks
from duely.sandbox.xero.errors import not_found, problem
from duely.sandbox.xero.identity import AccessToken, TokenRejected

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from duely.sandbox.xero.sandbox import XeroSandbox

ACCESS_SCOPE_KEY = "xero_access"
# Which scope family each Accounting API area needs; `.read` suffices for GET.
SCOPE_FAMILIES = (
    ("/Contacts", "accounting.contacts"),
    ("/ContactGroups", "accounting.contacts"),
    ("/Organisation", "accounting.settings"),
    ("/Accounts", "accounting.settings"),
    ("/Currencies", "accounting.settings"),
    ("/BrandingThemes", "accounting.settings"),
    ("/Reports", "accounting.reports"),
)
DEFAULT_FAMILY = "accounting.transactions"
ACCOUNTING_API_PATH = "/api.xro/2.0"

log = logging.getLogger(__name__)


@dataclass
class Access:
    """Who is calling: the app, its token and (for Accounting API calls) the tenant."""

    client_id: str
    provider_name: str
    token: AccessToken
    tenant_id: str | None


def access_of(scope: Scope) -> Access:
    return scope[ACCESS_SCOPE_KEY]  # type: ignore[typeddict-item]


def _sandbox(scope: Scope) -> XeroSandbox:
    return scope["litestar_app"].state.xero


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _required_scope(path: str, method: str) -> tuple[str, ...]:
    family = next((f for prefix, f in SCOPE_FAMILIES if prefix in path), DEFAULT_FAMILY)
    return (family, f"{family}.read") if method == "GET" else (family,)


def _xero_refusal(failure: str, retry_after: int) -> tuple[int, object, dict[str, str]]:
    """How Xero words an injected 429 or 500."""
    if failure == "429":
        busy = {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": "minute"}
        return 429, problem(429, "Too Many Requests", "Rate limit exceeded"), busy
    return 500, problem(500, "Internal Server Error", "An error occurred in Xero"), {}


async def _run_with_faults(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, plan: FaultPlan, headers: dict
) -> None:
    await run_with_faults(app, scope, receive, send, plan, headers, _xero_refusal)


def api_gateway(app: ASGIApp) -> ASGIApp:
    """Middleware for /connections and /api.xro/2.0: authenticate, authorise, count, fault."""

    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        xero = _sandbox(scope)
        path, method = scope["path"], scope["method"]
        authorization = _header(scope, b"authorization")
        try:
            if not authorization.lower().startswith("bearer "):
                raise TokenRejected("AuthenticationUnsuccessful")
            token = xero.identity.authenticate(authorization[7:].strip())
        except TokenRejected as rejected:
            challenge = 'Bearer error="invalid_token"'
            if rejected.expired_at is not None:
                expired = f"{rejected.expired_at:%m/%d/%Y %H:%M:%S}"
                challenge += f", error_description=\"The token expired at '{expired}'\""
            body = problem(401, "Unauthorized", rejected.detail)
            await send_json(send, 401, body, {"WWW-Authenticate": challenge})
            return
        tenant_id = None
        if "/api.xro/" in path:
            tenant_id = _header(scope, b"xero-tenant-id").strip().lower()
            if not (
                tenant_id in xero.store.ledgers
                and xero.identity.is_connected(token.client_id, tenant_id)
            ):
                body = problem(403, "Forbidden", "AuthenticationUnsuccessful")
                await send_json(send, 403, body, {})
                return
            if not set(_required_scope(path, method)) & set(token.scope.split()):
                body = problem(401, "Unauthorized", "AuthorizationUnsuccessful")
                await send_json(send, 401, body, {})
                return
        admission = xero.limiter.admit(token.client_id, tenant_id)
        if not admission.admitted:
            headers = {
                **admission.headers,
                "Retry-After": str(admission.retry_after),
                "X-Rate-Limit-Problem": admission.problem,
            }
            body = problem(429, "Too Many Requests", f"Rate limit exceeded: {admission.problem}")
            await send_json(send, 429, body, headers)
            return
        try:
            app_record = xero.identity.app(token.client_id)
            scope[ACCESS_SCOPE_KEY] = Access(  # type: ignore[typeddict-unknown-key]
                token.client_id, app_record.name if app_record else "", token, tenant_id
            )
            plan = xero.faults.plan(method, path, tenant_id)
            await _run_with_faults(app, scope, receive, send, plan, admission.headers)
        finally:
            xero.limiter.release(admission)

    return gateway


def identity_gateway(app: ASGIApp) -> ASGIApp:
    """Middleware for the identity service: fault injection only (no tokens, no limits)."""

    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        plan = _sandbox(scope).faults.plan(scope["method"], scope["path"], None)
        await _run_with_faults(app, scope, receive, send, plan, {})

    return gateway


# --- routes the sandbox does not emulate ----------------------------------------------------


async def _not_emulated(request: Request) -> Response:
    log.warning(
        "Xero sandbox: %s %s is not emulated; answering 404 as Xero does for an unknown resource",
        request.method,
        request.url.path,
    )
    return not_found()


def register_not_emulated(router: Router) -> None:
    """Give every request under the Accounting API's path that no route of `router` serves
    Xero's answer to an unknown resource (and a warning in the log), instead of the web
    framework's own 404/405 JSON. Call it once the router has all its routes."""
    register_fallbacks(router, ACCOUNTING_API_PATH, _not_emulated, 404)
