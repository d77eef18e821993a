"""Signed links that a customer opens without an account: the payment portal and the
unsubscribe page. Each is scoped to one customer of one organisation, names its purpose (a
portal link cannot unsubscribe) and expires.

A token is `<payload>.<signature>`, both base64url: the payload is `org.customer.expiry`, the
signature an HMAC-SHA256 with a key derived from DUELY_SECRET_KEY for the purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.security import derive_key
from duely.models import Customer, Organisation

PORTAL = "portal"
UNSUBSCRIBE = "unsubscribe"
LIFETIMES_DAYS = {PORTAL: 60, UNSUBSCRIBE: 365}


class BadLink(Exception):
    """The link was altered, belongs to another purpose, or has expired."""


@dataclass(frozen=True)
class LinkTarget:
    organisation_id: int
    customer_id: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret_key: str, purpose: str, payload: str) -> str:
    key = derive_key(secret_key, f"link-{purpose}")
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_token(secret_key: str, purpose: str, target: LinkTarget, now: float | None = None) -> str:
    expires = int((now or time.time()) + LIFETIMES_DAYS[purpose] * 86400)
    payload = _b64(f"{target.organisation_id}.{target.customer_id}.{expires}".encode())
    return f"{payload}.{_signature(secret_key, purpose, payload)}"


def read_token(secret_key: str, purpose: str, token: str, now: float | None = None) -> LinkTarget:
    payload, _, signature = token.partition(".")
    try:
        genuine = hmac.compare_digest(
            signature.encode(), _signature(secret_key, purpose, payload).encode()
        )
        organisation_id, customer_id, expires = (int(part) for part in _unb64(payload).split(b"."))
    except (ValueError, UnicodeError):  # not even shaped like one of our links
        raise BadLink("this link is not valid") from None
    if not genuine:
        raise BadLink("this link is not valid")
    if (now or time.time()) > expires:
        raise BadLink("this link has expired")
    return LinkTarget(organisation_id, customer_id)


MAX_TOKEN_LENGTH = 512
"""Ours are about 70 characters; anything far longer is not worth decoding."""


TOKEN_IN_ADDRESS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
"""Headers of the pages at a link's address (portal, unsubscribe): the token keeps them out of
caches and search engines. Their Referrer-Policy (none) is set with the security headers."""


@dataclass(frozen=True)
class LinkedCustomer:
    """Whom a link is for: a customer of an organisation."""

    organisation: Organisation
    customer: Customer

    @property
    def sender(self) -> str:
        """The name the organisation's reminders and pages go out under."""
        return self.organisation.sender


async def linked_customer(
    session: AsyncSession, secret_key: str, purpose: str, token: str, nobody: str
) -> tuple[Organisation, Customer]:
    """The (organisation, customer) a link names; BadLink when it is not valid, or `nobody`
    when it names no customer of that organisation any more."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise BadLink("this link is not valid")
    target = read_token(secret_key, purpose, token)
    customer = await session.get(Customer, target.customer_id)
    organisation = await session.get(Organisation, target.organisation_id)
    if customer is None or organisation is None or customer.organisation_id != organisation.id:
        raise BadLink(nobody)
    return organisation, customer


def link(public_url: str, secret_key: str, purpose: str, target: LinkTarget) -> str:
    path = {PORTAL: "pay", UNSUBSCRIBE: "unsubscribe"}[purpose]
    return f"{public_url.rstrip('/')}/{path}/{make_token(secret_key, purpose, target)}"
