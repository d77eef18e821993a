"""Security headers (duely/web/security_headers.py) on the real app: every kind of response
carries a strict Content-Security-Policy, X-Frame-Options, nosniff and a Referrer-Policy; only
the payment portal lets Stripe.js in, from the configured origin; HSTS only behind HTTPS.

And the templates hold nothing the policy would block (inline scripts, event handlers, inline
styles), so a template change cannot quietly break a page under the policy. tests/browser runs
the pages in Chromium under the real policy and fails on any violation it reports.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest_asyncio
from litestar.testing import AsyncTestClient

from duely.settings import Settings
from duely.web.app import TEMPLATES_DIR, create_app
from duely.web.security_headers import SecurityHeaders
from tests.conftest import api_token, login
from tests.factories import add_customer
from tests.test_portal import token_for
from tests.test_unsubscribe import token_for as unsubscribe_token_for

# A loopback origin nothing else in the settings uses, so finding it proves where it came from.
STRIPE_JS = "http://127.0.0.1:4242"
REQUIRED = {
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy(response) -> dict[str, list[str]]:
    """The response's one Content-Security-Policy, directive by directive."""
    [header] = response.headers.get_list("content-security-policy")
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def assert_secured(response, referrer: str) -> dict[str, list[str]]:
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("referrer-policy") == [referrer]
    assert "strict-transport-security" not in response.headers  # cookies are not secure here
    csp = policy(response)
    for directive, sources in REQUIRED.items():
        assert csp[directive] == sources, (directive, csp)
    for directive in ("script-src", "style-src"):
        assert csp[directive][0] == "'self'"
        assert "'unsafe-inline'" not in csp[directive] and "'unsafe-eval'" not in csp[directive]
    assert csp["form-action"][0] == "'self'"
    return csp


@pytest_asyncio.fixture
async def stripe_client(settings):
    """The app with Stripe.js configured at STRIPE_JS (as the tests' localstripe would be)."""
    configured = settings.model_copy(update={"stripe_js_url": f"{STRIPE_JS}/js.stripe.com/v3/"})
    async with AsyncTestClient(app=create_app(configured)) as test_client:
        yield test_client


async def test_every_kind_of_response_carries_the_headers(stripe_client, db, settings, org_a):
    client = stripe_client
    customer = add_customer(db, org_a.id, "Acme Widgets")
    portal = f"/pay/{token_for(settings, customer)}"
    unsubscribe = f"/unsubscribe/{unsubscribe_token_for(settings, customer)}"

    signed_out = {
        "sign-in page": await client.get("/login"),
        "sign-in redirect": await client.get("/invoices", follow_redirects=False),
        "404 page": await client.get("/no-such-page"),
        "405": await client.delete("/login"),
        "stylesheet": await client.get("/static/duely.css"),
        "htmx": await client.get("/static/vendor/htmx.min.js"),
        "portal script": await client.get("/static/portal.js"),
    }
    assert signed_out["sign-in redirect"].status_code in (302, 303)
    assert signed_out["404 page"].status_code == 404
    assert signed_out["405"].status_code == 405
    for kind, response in signed_out.items():
        csp = assert_secured(response, "same-origin")
        assert STRIPE_JS not in str(csp), kind

    bearer = await api_token(client, org_a.admin)
    api = {
        "API JSON": await client.get("/api/v1/invoices", headers=bearer),
        "API 404": await client.get("/api/v1/no-such-thing", headers=bearer),
    }
    assert api["API JSON"].headers["content-type"].startswith("application/json")
    await login(client, org_a.admin)
    staff = {
        "staff page": await client.get("/"),
        "staff settings": await client.get("/settings/organisation"),
        "staff htmx fragment": await client.get("/invoices", headers={"HX-Request": "true"}),
    }
    for kind, response in {**api, **staff}.items():
        assert response.status_code in (200, 404), (kind, response.status_code)
        csp = assert_secured(response, "same-origin")
        assert STRIPE_JS not in str(csp), kind

    # The customer's links: their token must not leave in a Referer, even to duely itself.
    for kind, url in {"portal": portal, "unsubscribe": unsubscribe}.items():
        response = await client.get(url)
        assert response.status_code == 200, (kind, response.text)
        assert_secured(response, "no-referrer")
    bad_link = await client.get("/pay/not-a-token")
    assert bad_link.status_code == 400
    assert_secured(bad_link, "no-referrer")


async def test_only_the_portal_lets_the_configured_stripe_js_in(stripe_client, db, settings, org_a):
    customer = add_customer(db, org_a.id, "Acme Widgets")
    portal = policy(await stripe_client.get(f"/pay/{token_for(settings, customer)}"))
    # Stripe.js from its configured origin; localstripe's fake then calls its API there.
    assert portal["script-src"] == ["'self'", STRIPE_JS]
    assert portal["connect-src"] == ["'self'", STRIPE_JS]
    assert portal["frame-src"] == ["'self'", STRIPE_JS]
    assert portal["form-action"] == ["'self'"]  # the card is paid by fetch, not a form to Stripe
    unsubscribe = policy(
        await stripe_client.get(f"/unsubscribe/{unsubscribe_token_for(settings, customer)}")
    )
    assert unsubscribe["script-src"] == ["'self'"] and "connect-src" not in unsubscribe
    await login(stripe_client, org_a.admin)
    staff = policy(await stripe_client.get("/"))
    assert staff["script-src"] == ["'self'"]
    assert "connect-src" not in staff and "frame-src" not in staff  # default-src: 'self' only


async def test_with_real_stripe_the_portal_allows_what_stripe_js_needs(settings, db, org_a):
    real = settings.model_copy(update={"stripe_js_url": "https://js.stripe.com/v3/"})
    customer = add_customer(db, org_a.id, "Acme Widgets")
    async with AsyncTestClient(app=create_app(real)) as client:
        portal = policy(await client.get(f"/pay/{token_for(settings, customer)}"))
        staff = policy(await client.get("/login"))
    assert portal["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert "https://hooks.stripe.com" in portal["frame-src"]
    assert "https://api.stripe.com" in portal["connect-src"]
    assert portal["style-src"] == ["'self'", "'unsafe-inline'"]  # Stripe.js styles its frames
    assert "stripe" not in str(staff) and staff["style-src"] == ["'self'"]


async def test_staff_forms_may_be_sent_on_to_the_ledgers_sign_in(client):
    # Connecting Xero posts to duely, which redirects to Xero's login: browsers check that
    # redirect against form-action too.
    csp = policy(await client.get("/login"))
    assert csp["form-action"] == ["'self'", "http://127.0.0.1:8100"]  # the Xero sandbox


async def test_strict_transport_security_only_with_secure_cookies(settings):
    secure = settings.model_copy(update={"cookie_secure": True})
    async with AsyncTestClient(app=create_app(secure)) as client:
        for path in ("/login", "/static/duely.css", "/no-such-page"):
            response = await client.get(path)
            assert response.headers["strict-transport-security"] == "max-age=31536000", path
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert "strict-transport-security" not in (await client.get("/login")).headers


def test_an_invoice_pdf_keeps_out_of_frames_without_blocking_the_pdf_viewer():
    headers = SecurityHeaders(Settings(secret_key="x" * 40)).headers_for(
        "/pay/some-token/invoices/42.pdf", "application/pdf"
    )
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


# --- the templates hold nothing inline ---------------------------------------------------------


class InlineCode(HTMLParser):
    """Finds in one template what a policy without 'unsafe-inline' blocks: a <script> with a
    body (or no src), an on...= handler, htmx's hx-on, a javascript: or js: value (htmx evals
    `js:` in hx-vals, hx-vars and hx-headers), a style= attribute, a <style> element."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not named.get("src"):
                self.found.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name, value in attrs:
            where = f"{tag} {name}= at line {self.getpos()[0]}"
            if name.startswith("on") or name.startswith("hx-on") or name == "style":
                self.found.append(where)
            if (value or "").strip().lower().startswith(("javascript:", "js:")):
                self.found.append(where)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"script body at line {self.getpos()[0]}")


def inline_code(source: str) -> list[str]:
    # Jinja's comments may mention tags; its other syntax reads as text or odd attributes.
    while "{#" in source:
        start = source.index("{#")
        end = source.index("#}", start) + 2
        source = source[:start] + "\n" * source.count("\n", start, end) + source[end:]
    finder = InlineCode()
    finder.feed(source)
    finder.close()
    return finder.found


def test_no_template_holds_inline_script_handlers_or_styles():
    templates = sorted(Path(TEMPLATES_DIR).rglob("*.html"))
    assert len(templates) > 40  # all of them, not an empty glob
    found = {
        str(path.relative_to(TEMPLATES_DIR)): problems
        for path in templates
        if (problems := inline_code(path.read_text()))
    }
    assert found == {}


def test_the_template_check_finds_each_kind_of_inline_code():
    assert inline_code('<script src="/static/pay.js" defer></script>') == []
    assert inline_code('{# <script>x()</script> #}<p class="a">hi</p>') == []
    for snippet in (
        "<script>alert(1)</script>",
        '<button onclick="go()">Go</button>',
        '<form hx-on::after-request="this.reset()"></form>',
        '<div hx-vals="js:{a: go()}"></div>',
        '<a href="javascript:go()">go</a>',
        '<p style="color: red">x</p>',
        "<style>p { color: red }</style>",
    ):
        assert inline_code(snippet), snippet


async def test_the_api_schema_is_served_as_json_with_no_script_from_elsewhere(client):
    """/schema was Redoc's page, loading its script from a CDN that the CSP (rightly) refuses:
    a blank page. It is the OpenAPI document itself."""
    for path in ("/schema", "/schema/openapi.json"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert answer.json()["info"]["title"] == "duely"
        assert "<script" not in answer.text
