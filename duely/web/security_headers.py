"""Security headers on every response, set in one place.

Every page gets a strict Content-Security-Policy (scripts and styles only from duely's own
/static, nothing inline, never framed), X-Frame-Options for browsers that predate
frame-ancestors, X-Content-Type-Options nosniff, a Referrer-Policy, and HSTS when duely is
served over HTTPS (`DUELY_COOKIE_SECURE`). Two kinds of page differ:

- the payment portal (`/pay/...`) also loads Stripe.js, from the configured
  `DUELY_STRIPE_JS_URL` (localstripe's fake in the demo and tests, js.stripe.com in production);
- the portal and unsubscribe links carry their credential in the path, so those pages send no
  Referer at all, not even to duely itself.

This is a `before_send` hook rather than a route middleware: Litestar runs route middleware
only for requests that reach a route, so a 404 for an unknown path, a 405, and the errors other
middleware raise (sign-in required, CSRF refused, rate limited) would leave without headers.
The hook sees every response's start message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from duely.settings import Settings
from duely.web.pages.portal import PORTAL_PREFIX

UNSUBSCRIBE_PREFIX = "/unsubscribe/"
STRIPE_JS_ORIGIN = "https://js.stripe.com"
HSTS = "max-age=31536000"
"""A year. No includeSubDomains: duely is often one host in a company's domain, and the other
hosts are not ours to force onto HTTPS."""

Policy = dict[str, tuple[str, ...]]

# Styles: 'self' only. Every inline style and <style> of duely's templates is in duely.css, and
# htmx's own indicator <style> is switched off (`includeIndicatorStyles` in the htmx-config meta
# of base.html and pay/layout.html) with its two rules in duely.css too. object-src and base-uri
# do not fall back to default-src, hence their own lines.
DOCUMENT: Policy = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

# What Stripe's integration security guide asks of a page using Stripe.js and its card Element
# (the Google Maps origins of its Address Element left out: the portal does not use it).
# 'unsafe-inline' for styles is the one loosening: Stripe.js styles the frames it puts into the
# page with inline styles. Styles cannot run script, and with images, fonts and connections
# limited to duely and Stripe an injected style has nowhere to send what it reads.
REAL_STRIPE: Policy = {
    "script-src": (STRIPE_JS_ORIGIN, "https://*.js.stripe.com"),
    "frame-src": (STRIPE_JS_ORIGIN, "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
    "style-src": ("'unsafe-inline'",),
}

# Chromium's PDF viewer is a plugin in a page with inline styles: object-src 'none' leaves it
# blank. A PDF runs no script of ours, so it only needs to stay out of other sites' frames.
FRAMING_ONLY = "frame-ancestors 'none'"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _extend(policy: Policy, more: Policy) -> Policy:
    """`policy` with `more`'s sources added; a directive new to it starts from default-src."""
    merged = dict(policy)
    for directive, sources in more.items():
        # dict.fromkeys: each source once, in order.
        merged[directive] = tuple(
            dict.fromkeys(merged.get(directive, policy["default-src"]) + sources)
        )
    return merged


def _render(policy: Policy) -> str:
    return "; ".join(f"{directive} {' '.join(sources)}" for directive, sources in policy.items())


def _headers(policy: Policy, referrer: str, settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": _render(policy),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": referrer,
    }
    if settings.cookie_secure:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """The app's `before_send` hook (duely/web/app.py). The headers are worked out once, from
    the settings; a response's own value of any of them is replaced, so there is one policy."""

    def __init__(self, settings: Settings) -> None:
        # Connecting a Xero organisation (or a Stripe account) posts to duely, which redirects
        # to Xero's login (Stripe's), and browsers hold the redirect of a form post to
        # form-action too. Only staff do that.
        ledgers = tuple(
            dict.fromkeys(
                _origin(u) for u in (settings.xero_login_url, settings.stripe_connect_url)
            )
        )
        staff = _extend(DOCUMENT, {"form-action": ledgers})
        stripe_js = _origin(settings.stripe_js_url)
        # localstripe's fake Stripe.js fetches from its own origin and uses no frames.
        portal = _extend(
            DOCUMENT,
            {"script-src": (stripe_js,), "frame-src": (stripe_js,), "connect-src": (stripe_js,)},
        )
        if stripe_js == STRIPE_JS_ORIGIN:
            portal = _extend(portal, REAL_STRIPE)
        self.staff = _headers(staff, "same-origin", settings)
        self.portal = _headers(portal, "no-referrer", settings)
        self.unsubscribe = _headers(DOCUMENT, "no-referrer", settings)

    def headers_for(self, path: str, content_type: str) -> dict[str, str]:
        if path.startswith(PORTAL_PREFIX):
            headers = self.portal
        elif path.startswith(UNSUBSCRIBE_PREFIX):
            headers = self.unsubscribe
        else:
            headers = self.staff
        if content_type.startswith("application/pdf"):
            headers = {**headers, "Content-Security-Policy": FRAMING_ONLY}
        return headers

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in self.headers_for(scope["path"], headers.get("content-type", "")).items():
            headers[name] = value
