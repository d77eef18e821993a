"""The HTTP side of the ledger sandboxes' OAuth (RFC 6749, 7009, 7636), shared by Xero and
QuickBooks: the consent page's frame, checking an authorisation request, redirects back to the
app, client authentication and the token and revocation endpoints' answers.

What stays with each service (xero/oauth.py, quickbooks/oauth.py): its paths, its consent
page's words, style and choices (Xero's organisations, Intuit's one company), how its token
endpoint's body is read and the wording of its error pages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable, Mapping
from html import escape
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

from litestar import Request, Response
from litestar.response import Redirect

from duely.sandbox.oauth_grants import OAuthError, OAuthGrants

PKCE_METHODS = ("S256", "plain", "")


class RegisteredApp(Protocol):
    redirect_uris: list[str]


class ConsentPages:
    """The sandbox's HTML pages (consent and errors) in one service's name and style."""

    def __init__(self, service: str, style: str) -> None:
        self.service = service
        self.style = style

    def page(self, title: str, body: str, status: int = 200) -> Response:
        html = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}"
            f"</title><style>{self.style}</style></head><body>{body}</body></html>"
        )
        return Response(html, status_code=status, media_type="text/html")

    def error(self, message: str) -> Response:
        body = f"<h1>Sorry, something went wrong</h1><p>{escape(message)}</p>"
        return self.page(f"{self.service} sandbox: error", body, 400)


def hidden_inputs(params: Mapping[str, str], names: Iterable[str]) -> str:
    """The authorisation request carried through the consent form."""
    return "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in names
    )


def redirect_back(redirect_uri: str, **params: str) -> Redirect:
    """The 302 to the app's redirect URI with `params` (empty ones left out) in its query."""
    separator = "&" if "?" in redirect_uri else "?"
    query = urlencode({k: v for k, v in params.items() if v})
    return Redirect(f"{redirect_uri}{separator}{query}", status_code=302)


def refuse_authorisation(
    pages: ConsentPages,
    app: RegisteredApp | None,
    params: Mapping[str, str],
    scopes: Collection[str],
    *,
    unknown_client: str,
    unregistered_redirect: str,
) -> Response | None:
    """An error answer for a bad authorisation request, or None when it is good. A bad
    client or redirect URI gets an error page, never a redirect (RFC 6749 4.1.2.1); the other
    faults go back to the redirect URI."""
    if app is None:
        return pages.error(unknown_client)
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return pages.error(unregistered_redirect)
    state = params.get("state", "")
    if params.get("response_type") != "code":
        return redirect_back(redirect_uri, error="unsupported_response_type", state=state)
    asked = params.get("scope", "").split()
    if not asked or not set(asked) <= set(scopes):
        return redirect_back(redirect_uri, error="invalid_scope", state=state)
    method = params.get("code_challenge_method", "")
    if params.get("code_challenge") and method not in PKCE_METHODS:
        return redirect_back(redirect_uri, error="invalid_request", state=state)
    return None


def form_fields(raw: str) -> dict[str, str]:
    """A form-encoded body, each field's first value."""
    form = parse_qs(raw, keep_blank_values=True)
    return {name: values[0] for name, values in form.items()}


def client_credentials(
    request: Request, fields: Mapping[str, str], invalid_client: OAuthError
) -> tuple[str, str]:
    """HTTP Basic first (what both services document), else client_id/client_secret in the
    body. A Basic header that does not decode is `invalid_client`."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise invalid_client from error
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return fields.get("client_id", ""), fields.get("client_secret", "")


def oauth_error(error: OAuthError) -> Response:
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    return Response(body, status_code=error.status)


Identity = OAuthGrants[Any, Any, Any, Any, Any]


def answer_token_request(
    identity: Identity, request: Request, fields: Mapping[str, str]
) -> Response:
    """The token endpoint: an authorisation code or a refresh token for a token response."""
    try:
        credentials = client_credentials(request, fields, identity.invalid_client())
        app = identity.check_client(*credentials)
        grant_type = fields.get("grant_type", "")
        if grant_type == "authorization_code":
            answer = identity.exchange_code(
                app,
                fields.get("code", ""),
                fields.get("redirect_uri", ""),
                fields.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            answer = identity.refresh(app, fields.get("refresh_token", ""))
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return oauth_error(error)
    return Response(answer.as_json(), status_code=200, headers={"Cache-Control": "no-store"})


def answer_revocation(
    identity: Identity, request: Request, fields: Mapping[str, str], *, require_token: bool
) -> Response:
    """The revocation endpoint: 200 for a known or unknown token (RFC 7009 2.2)."""
    try:
        app = identity.check_client(*client_credentials(request, fields, identity.invalid_client()))
    except OAuthError as error:
        return oauth_error(error)
    if require_token and not fields.get("token"):
        return oauth_error(OAuthError("invalid_request", "token is required"))
    identity.revoke(app, fields.get("token", ""))
    return Response(b"", status_code=200)
