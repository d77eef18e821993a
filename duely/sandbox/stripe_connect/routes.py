"""The Stripe Connect OAuth routes, under /stripe-connect (Stripe's https://connect.stripe.com).

`GET /oauth/authorize` shows the page where the business picks the account to connect (the
sandbox's stand-in for signing in to Stripe); its form posts back to the same path, which
redirects to the platform with a code, or with `error=access_denied` when the person
declines. `POST /oauth/token` and `POST /oauth/deauthorize` answer the platform's server.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.response import Redirect

from duely.sandbox.stripe_connect.sandbox import SCOPES, OAuthRefusal, StripeConnectSandbox

STRIPE_CONNECT_PREFIX = "/stripe-connect"


def _sandbox(request: Request) -> StripeConnectSandbox:
    return request.app.state.stripe_connect


def _refused(refusal: OAuthRefusal) -> Response:
    body = {"error": refusal.error, "error_description": refusal.description}
    return Response(body, status_code=refusal.status_code)


def _error_page(refusal: OAuthRefusal) -> Response:
    text = f"<h1>Stripe Connect</h1><p>{escape(refusal.error)}: {escape(refusal.description)}</p>"
    return Response(text, status_code=400, media_type="text/html")


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


@get("/oauth/authorize")
async def authorize_page(request: Request) -> Response:
    sandbox, query = _sandbox(request), request.query_params
    try:
        platform = sandbox.platform(query.get("client_id"))
        redirect_uri = sandbox.redirect_uri(platform, query.get("redirect_uri"))
        if query.get("response_type", "code") != "code":
            raise OAuthRefusal("unsupported_response_type", "response_type must be 'code'")
        scope = query.get("scope") or "read_only"
        if scope not in SCOPES:
            raise OAuthRefusal("invalid_scope", f"Invalid scope: {scope}")
    except OAuthRefusal as refusal:
        return _error_page(refusal)
    accounts = "".join(
        f'<label><input type="radio" name="account" value="{escape(a.id)}"> '
        f"{escape(a.business_name)}</label>"
        for a in sandbox.accounts.values()
    )
    fields = {
        "client_id": platform.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": query.get("state") or "",
    }
    page = (
        f"<h1>Connect {escape(platform.name)} to your Stripe account</h1>"
        f'<form method="post" action="{STRIPE_CONNECT_PREFIX}/oauth/authorize">'
        + "".join(_hidden(name, value) for name, value in fields.items())
        + accounts
        + '<button name="decision" value="allow">Connect my Stripe account</button>'
        '<button name="decision" value="deny">Cancel</button></form>'
    )
    return Response(page, media_type="text/html")


@post("/oauth/authorize", status_code=302)
async def authorize_decision(request: Request) -> Response:
    sandbox, form = _sandbox(request), await request.form()
    try:
        platform = sandbox.platform(form.get("client_id"))
        redirect_uri = sandbox.redirect_uri(platform, form.get("redirect_uri"))
        back = {"state": form.get("state", "")} if form.get("state") else {}
        if form.get("decision") != "allow":
            back = {
                "error": "access_denied",
                "error_description": "The user denied your request",
                **back,
            }
        else:
            grant = sandbox.authorise(
                platform.client_id, form.get("account", ""), form.get("scope") or "read_only"
            )
            back = {"scope": grant.scope, "code": grant.code, **back}
    except OAuthRefusal as refusal:
        return _error_page(refusal)
    return Redirect(f"{redirect_uri}?{urlencode(back)}", status_code=302)


def _platform_key(request: Request, form: dict) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential:
        return credential.strip()
    return form.get("client_secret", "")


@post("/oauth/token", status_code=200)
async def token(request: Request) -> Response:
    sandbox, form = _sandbox(request), dict(await request.form())
    try:
        platform = sandbox.platform_of_key(_platform_key(request, form))
        if form.get("grant_type") != "authorization_code":
            raise OAuthRefusal(
                "unsupported_grant_type",
                f"Unsupported grant type: {form.get('grant_type')} (the sandbox takes "
                "authorization_code only)",
            )
        grant, account = sandbox.exchange(platform, form.get("code"))
    except OAuthRefusal as refusal:
        return _refused(refusal)
    return Response(
        {
            "access_token": f"sk_test_{grant.code[3:]}",
            "livemode": False,
            "refresh_token": f"rt_{grant.code[3:]}",
            "token_type": "bearer",
            "stripe_publishable_key": account.publishable_key,
            "stripe_user_id": account.id,
            "scope": grant.scope,
        }
    )


@post("/oauth/deauthorize", status_code=200)
async def deauthorize(request: Request) -> Response:
    sandbox, form = _sandbox(request), dict(await request.form())
    try:
        platform = sandbox.platform_of_key(_platform_key(request, form))
        account_id = form.get("stripe_user_id", "")
        sandbox.deauthorise(platform, form.get("client_id"), account_id)
    except OAuthRefusal as refusal:
        return _refused(refusal)
    return Response({"stripe_user_id": account_id})


def create_stripe_connect_router() -> Router:
    return Router(
        STRIPE_CONNECT_PREFIX,
        route_handlers=[authorize_page, authorize_decision, token, deauthorize],
    )
