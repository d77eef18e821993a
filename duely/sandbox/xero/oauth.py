"""Xero's login and identity endpoints: the consent page, the token and revocation endpoints.

The consent page stands in for Xero's login page: one implicit sandbox user, who may tick any of
the sandbox's organisations. A bad client or redirect URI gets an error page, never a
redirect (RFC 6749 section 4.1.2.1); every other outcome goes back to the redirect URI.
"""

from __future__ import annotations

import base64
import binascii
from html import escape
from urllib.parse import parse_qs, urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect

from duely.sandbox.xero.identity import SCOPES, OAuthError
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


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(html, status_code=status, media_type="text/html")


def _error_page(message: str) -> Response:
    return _page(
        "Xero sandbox: error", f"<h1>Sorry, something went wrong</h1><p>{escape(message)}</p>", 400
    )


def _redirect(redirect_uri: str, **params: str) -> Redirect:
    separator = "&" if "?" in redirect_uri else "?"
    query = urlencode({k: v for k, v in params.items() if v})
    return Redirect(f"{redirect_uri}{separator}{query}", status_code=302)


def _check_request(xero: XeroSandbox, params: dict[str, str]) -> Response | None:
    """An error answer for a bad authorisation request, or None when it is good."""
    app = xero.identity.app(params.get("client_id", ""))
    if app is None:
        return _error_page("Unknown client or client not enabled (unauthorized_client).")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return _error_page("Invalid redirect_uri: it is not registered for this app.")
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
    xero: XeroSandbox, action: str, params: dict[str, str], notice: str = ""
) -> Response:
    app = xero.identity.app(params["client_id"])
    assert app is not None
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in AUTHORIZE_PARAMS
    )
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
    return _page(f"Xero sandbox: connect {app.name}", body, 400 if notice else 200)


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
        return _redirect(redirect_uri, error="access_denied", state=state)
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
    return _redirect(redirect_uri, code=code, state=state)


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    """HTTP Basic first (what Xero documents), else client_id/client_secret in the body."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client") from error
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def _oauth_error(error: OAuthError) -> Response:
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    return Response(body, status_code=error.status)


@post("/connect/token")
async def token(request: Request) -> Response:
    xero = _sandbox(request)
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    field = {name: values[0] for name, values in form.items()}
    try:
        app = xero.identity.check_client(*_client_credentials(request, form))
        grant_type = field.get("grant_type", "")
        if grant_type == "authorization_code":
            answer = xero.identity.exchange_code(
                app,
                field.get("code", ""),
                field.get("redirect_uri", ""),
                field.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            answer = xero.identity.refresh(app, field.get("refresh_token", ""))
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return _oauth_error(error)
    return Response(answer.as_json(), status_code=200, headers={"Cache-Control": "no-store"})


@post("/connect/revocation")
async def revocation(request: Request) -> Response:
    xero = _sandbox(request)
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    try:
        app = xero.identity.check_client(*_client_credentials(request, form))
    except OAuthError as error:
        return _oauth_error(error)
    xero.identity.revoke(app, form.get("token", [""])[0])
    return Response(b"", status_code=200)


IDENTITY_HANDLERS = [authorize_page, authorize_decision, token, revocation]
