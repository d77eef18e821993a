"""Xero's login and identity endpoints: the consent page, the token and revocation endpoints.

The consent page stands in for Xero's login page: one implicit sandbox user, who may tick any of
the sandbox's organisations. A bad client or redirect URI gets an error page, never a
redirect (RFC 6749 section 4.1.2.1); every other outcome goes back to the redirect URI.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from litestar import Request, Response, get, post

from duely.sandbox.oauth_endpoints import (
    ConsentPages,
    answer_revocation,
    answer_token_request,
    form_fields,
    hidden_inputs,
    redirect_back,
    refuse_authorisation,
)
from duely.sandbox.xero.identity import SCOPES
from duely.sandbox.xero.sandbox import XeroSandbox

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;color:#1e2a38}"
    "h1{font-size:1.3rem}fieldset{border:1px solid #cfd6de;border-radius:6px;margin:1rem 0}"
    "li{margin:.2rem 0}button{padding:.5rem 1rem;margin-right:.5rem}.error{color:#b00020}"
)


def _sandbox(request: Request) -> XeroSandbox:
    return request.app.state.xero


PAGES = ConsentPages("Xero", PAGE_STYLE)


def _check_request(xero: XeroSandbox, params: dict[str, str]) -> Response | None:
    """An error answer for a bad authorisation request, or None when it is good."""
    return refuse_authorisation(
        PAGES,
        xero.identity.app(params.get("client_id", "")),
        params,
        SCOPES,
        unknown_client="Unknown client or client not enabled (unauthorized_client).",
        unregistered_redirect="Invalid redirect_uri: it is not registered for this app.",
    )


def _consent_page(
    xero: XeroSandbox, action: str, params: dict[str, str], notice: str = ""
) -> Response:
    app = xero.identity.app(params["client_id"])
    assert app is not None
    hidden = hidden_inputs(params, AUTHORIZE_PARAMS)
    tenants = "".join(
        f'<li><label><input type="checkbox" name="tenant_ids" value="{ledger.tenant_id}">'
        f" {escape(ledger.organisation.name)}</label></li>"
        for ledger in xero.store.ledgers.values()
    )
    scopes = "".join(f"<li>{escape(scope)}</li>" for scope in params.get("scope", "").split())
    warning = f'<p class="error">{escape(notice)}</p>' if notice else ""
    body = (
        f"<h1>duely sandbox wants access to your Xero organisations</h1>"
        f"<p><strong>{escape(app.name)}</strong> is asking for:</p><ul>{scopes}</ul>{warning}"
        f'<form method="post" action="{escape(action)}">{hidden}'
        f"<fieldset><legend>Organisations</legend><ul>{tenants}</ul></fieldset>"
        '<button type="submit" name="decision" value="allow">Allow access</button>'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return PAGES.page(f"Xero sandbox: connect {app.name}", body, 400 if notice else 200)


@get("/connect/authorize")
async def authorize_page(request: Request) -> Response:
    xero = _sandbox(request)
    params = {name: request.query_params.get(name, "") for name in AUTHORIZE_PARAMS}
    return _check_request(xero, params) or _consent_page(xero, request.url.path, params)


@post("/connect/authorize", status_code=302)
async def authorize_decision(request: Request) -> Response:
    xero = _sandbox(request)
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    params = {name: form.get(name, [""])[0] for name in AUTHORIZE_PARAMS}
    refusal = _check_request(xero, params)
    if refusal is not None:
        return refusal
    redirect_uri, state = params["redirect_uri"], params["state"]
    if form.get("decision", [""])[0] != "allow":
        return redirect_back(redirect_uri, error="access_denied", state=state)
    tenant_ids = [t for t in form.get("tenant_ids", []) if t in xero.store.ledgers]
    if not tenant_ids:
        return _consent_page(xero, request.url.path, params, "Choose at least one organisation.")
    code = xero.identity.authorise(
        client_id=params["client_id"],
        redirect_uri=redirect_uri,
        scope=params["scope"],
        tenant_ids=tenant_ids,
        code_challenge=params["code_challenge"],
        code_challenge_method=params["code_challenge_method"] or "plain",
    )
    return redirect_back(redirect_uri, code=code, state=state)


@post("/connect/token")
async def token(request: Request) -> Response:
    fields = form_fields((await request.body()).decode())
    return answer_token_request(_sandbox(request).identity, request, fields)


@post("/connect/revocation")
async def revocation(request: Request) -> Response:
    fields = form_fields((await request.body()).decode())
    return answer_revocation(_sandbox(request).identity, request, fields, require_token=False)


IDENTITY_HANDLERS = [authorize_page, authorize_decision, token, revocation]
