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

import base64
import binascii
import json
from html import escape
from urllib.parse import parse_qs, urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect

from duely.sandbox.quickbooks.identity import SCOPES, OAuthError
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


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(html, status_code=status, media_type="text/html")


def _error_page(message: str) -> Response:
    body = f"<h1>Sorry, something went wrong</h1><p>{escape(message)}</p>"
    return _page("QuickBooks sandbox: error", body, 400)


def _redirect(redirect_uri: str, **params: str) -> Redirect:
    separator = "&" if "?" in redirect_uri else "?"
    query = urlencode({k: v for k, v in params.items() if v})
    return Redirect(f"{redirect_uri}{separator}{query}", status_code=302)


def _check_request(quickbooks: QuickBooksSandbox, params: dict[str, str]) -> Response | None:
    app = quickbooks.identity.app(params.get("client_id", ""))
    if app is None:
        return _error_page("The client_id is not valid (invalid_client).")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return _error_page("The redirect_uri is not registered for this app.")
    state = params.get("state", "")
    if params.get("response_type") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=state)
    scopes = params.get("scope", "").split()
    if not scopes or not set(scopes) <= SCOPES:
        return _redirect(redirect_uri, error="invalid_scope", state=state)
    method = params.get("code_challenge_method", "")
    if params.get("code_challenge") and method not in ("S256", "plain", ""):
        return _redirect(redirect_uri, error="invalid_request", state=state)
    return None


def _consent_page(
    quickbooks: QuickBooksSandbox, action: str, params: dict[str, str], notice: str = ""
) -> Response:
    app = quickbooks.identity.app(params["client_id"])
    assert app is not None
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in AUTHORIZE_PARAMS
    )
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
    return _page(f"QuickBooks sandbox: connect {app.name}", body, 400 if notice else 200)


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
        return _redirect(redirect_uri, error="access_denied", state=state)
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
    return _redirect(redirect_uri, code=code, state=state, realmId=realm_id)


def _client_credentials(request: Request, fields: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (what Intuit documents), else client_id/client_secret in the body."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client", status=401) from error
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return fields.get("client_id", ""), fields.get("client_secret", "")


def _oauth_error(error: OAuthError) -> Response:
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    return Response(body, status_code=error.status)


async def _fields(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw or "{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}


@post(TOKEN_PATH)
async def token(request: Request) -> Response:
    quickbooks = _sandbox(request)
    field = await _fields(request)
    try:
        app = quickbooks.identity.check_client(*_client_credentials(request, field))
        grant_type = field.get("grant_type", "")
        if grant_type == "authorization_code":
            answer = quickbooks.identity.exchange_code(
                app,
                field.get("code", ""),
                field.get("redirect_uri", ""),
                field.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            answer = quickbooks.identity.refresh(app, field.get("refresh_token", ""))
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return _oauth_error(error)
    return Response(answer.as_json(), status_code=200, headers={"Cache-Control": "no-store"})


@post(REVOKE_PATH)
async def revoke(request: Request) -> Response:
    quickbooks = _sandbox(request)
    field = await _fields(request)
    try:
        app = quickbooks.identity.check_client(*_client_credentials(request, field))
    except OAuthError as error:
        return _oauth_error(error)
    if not field.get("token"):
        return _oauth_error(OAuthError("invalid_request", "token is required"))
    quickbooks.identity.revoke(app, field["token"])
    return Response(b"", status_code=200)


OAUTH_HANDLERS = [discovery, authorize_page, authorize_decision, token, revoke]
