"""Intuit's OAuth endpoints, each at the path it has on Intuit's own hosts:

- GET /.well-known/openid_configuration: the discovery document (Intuit's lives on
  developer.intuit.com); `intuitlib.AuthClient(..., environment=<its URL>)` reads it
- GET/POST /connect/oauth2: the consent page (appcenter.intuit.com), where the sandbox's one
  user picks the company to connect; the redirect carries code, state and realmId
- POST /oauth2/v1/tokens/bearer: the token endpoint (oauth.platform.intuit.com), HTTP Basic
  client authentication and a form body
- POST /v2/oauth2/tokens/revoke: revocation (developer.api.intuit.com), a JSON or form body

A bad client or redirect URI gets an error page, never a redirect (RFC 6749 4.1.2.1).
"""

from __future__ import annotations

import json
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
from duely.sandbox.quickbooks.identity import SCOPES
from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
AUTHORIZE_PARAMS = (
    "client_id",
    "response_type",
    "scope",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
)
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;color:#393a3d}"
    "h1{font-size:1.3rem}fieldset{border:1px solid #d4d7dc;border-radius:6px;margin:1rem 0}"
    "li{margin:.2rem 0;list-style:none}button{padding:.5rem 1rem;margin-right:.5rem}"
    ".error{color:#d52b1e}"
)


def _sandbox(request: Request) -> QuickBooksSandbox:
    return request.app.state.quickbooks


def _prefix(request: Request) -> str:
    """Where this sandbox is mounted, as the client reached it (scheme, host and /quickbooks)."""
    base = str(request.base_url).rstrip("/")
    path = request.url.path
    return base + path[: path.index("/.well-known")]


@get("/.well-known/openid_configuration")
async def discovery(request: Request) -> dict:
    prefix = _prefix(request)
    return {
        "issuer": f"{prefix}/oauth2",
        "authorization_endpoint": f"{prefix}{AUTHORIZE_PATH}",
        "token_endpoint": f"{prefix}{TOKEN_PATH}",
        "userinfo_endpoint": f"{prefix}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{prefix}{REVOKE_PATH}",
        "jwks_uri": f"{prefix}/oauth2/v1/keys",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": sorted(SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


PAGES = ConsentPages("QuickBooks", PAGE_STYLE)


def _check_request(quickbooks: QuickBooksSandbox, params: dict[str, str]) -> Response | None:
    return refuse_authorisation(
        PAGES,
        quickbooks.identity.app(params.get("client_id", "")),
        params,
        SCOPES,
        unknown_client="The client_id is not valid (invalid_client).",
        unregistered_redirect="The redirect_uri is not registered for this app.",
    )


def _consent_page(
    quickbooks: QuickBooksSandbox, action: str, params: dict[str, str], notice: str = ""
) -> Response:
    app = quickbooks.identity.app(params["client_id"])
    assert app is not None
    hidden = hidden_inputs(params, AUTHORIZE_PARAMS)
    companies = "".join(
        f'<li><label><input type="radio" name="realm_id" value="{company.realm_id}">'
        f" {escape(company.name)}</label></li>"
        for company in quickbooks.store.companies.values()
    )
    warning = f'<p class="error">{escape(notice)}</p>' if notice else ""
    body = (
        f"<h1>Connect {escape(app.name)} to QuickBooks</h1>"
        f"<p>{escape(app.name)} wants to read and write your QuickBooks data.</p>{warning}"
        f'<form method="post" action="{escape(action)}">{hidden}'
        f"<fieldset><legend>Which company do you want to connect?</legend>"
        f"<ul>{companies}</ul></fieldset>"
        '<button type="submit" name="decision" value="allow">Connect</button>'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return PAGES.page(f"QuickBooks sandbox: connect {app.name}", body, 400 if notice else 200)


@get(AUTHORIZE_PATH)
async def authorize_page(request: Request) -> Response:
    quickbooks = _sandbox(request)
    params = {name: request.query_params.get(name, "") for name in AUTHORIZE_PARAMS}
    return _check_request(quickbooks, params) or _consent_page(quickbooks, request.url.path, params)


@post(AUTHORIZE_PATH, status_code=302)
async def authorize_decision(request: Request) -> Response:
    quickbooks = _sandbox(request)
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    params = {name: form.get(name, [""])[0] for name in AUTHORIZE_PARAMS}
    refusal = _check_request(quickbooks, params)
    if refusal is not None:
        return refusal
    redirect_uri, state = params["redirect_uri"], params["state"]
    if form.get("decision", [""])[0] != "allow":
        return redirect_back(redirect_uri, error="access_denied", state=state)
    realm_id = form.get("realm_id", [""])[0]
    if realm_id not in quickbooks.store.companies:
        return _consent_page(quickbooks, request.url.path, params, "Choose a company.")
    code = quickbooks.identity.authorise(
        client_id=params["client_id"],
        redirect_uri=redirect_uri,
        scope=params["scope"],
        realm_id=realm_id,
        code_challenge=params["code_challenge"],
        code_challenge_method=params["code_challenge_method"] or "plain",
    )
    return redirect_back(redirect_uri, code=code, state=state, realmId=realm_id)


async def _fields(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw or "{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return form_fields(raw)


@post(TOKEN_PATH)
async def token(request: Request) -> Response:
    return answer_token_request(_sandbox(request).identity, request, await _fields(request))


@post(REVOKE_PATH)
async def revoke(request: Request) -> Response:
    fields = await _fields(request)
    return answer_revocation(_sandbox(request).identity, request, fields, require_token=True)


OAUTH_HANDLERS = [discovery, authorize_page, authorize_decision, token, revoke]
