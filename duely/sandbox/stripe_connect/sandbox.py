"""StripeConnectSandbox: platforms, the businesses' Stripe accounts, codes and connections.

Behaviour taken from Stripe's Connect OAuth reference and the official `stripe` package:

- A platform is known by its `client_id` (`ca_...`) and authenticates with its secret key
  (`Authorization: Bearer sk_...`, or `client_secret` in the form). The redirect URI must be
  one the platform registered; without one, the first registered is used.
- `scope` is `read_only` (the default) or `read_write`; `response_type` must be `code`.
- A code (`ac_...`) is good once, for five minutes, and only for the platform it was issued
  to. Errors are JSON `{"error": ..., "error_description": ...}` with status 400 (401 for a
  platform that cannot be authenticated), which the official package raises as OAuthError
  subclasses (InvalidGrantError, InvalidClientError, ...).
- Not emulated: refresh tokens (`grant_type=refresh_token` is refused as unsupported here),
  Express accounts, prefilling `stripe_user[...]`.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field

CODE_SECONDS = 300
SCOPES = ("read_only", "read_write")
_ALPHANUMERIC = string.ascii_letters + string.digits


def _token(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


class OAuthRefusal(Exception):
    """An OAuth error as Stripe reports it."""

    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status_code = error, description, status_code


@dataclass
class Platform:
    client_id: str
    secret_key: str
    redirect_uris: list[str]
    name: str = "duely"


@dataclass
class Account:
    """A business's Stripe account, which a person signed in to Stripe can connect."""

    id: str
    business_name: str
    publishable_key: str = field(default_factory=lambda: _token("pk_test_"))


@dataclass
class Grant:
    code: str
    client_id: str
    account_id: str
    scope: str
    issued_at: float
    used: bool = False


class StripeConnectSandbox:
    def __init__(self) -> None:
        self.platforms: dict[str, Platform] = {}
        self.accounts: dict[str, Account] = {}
        self.grants: dict[str, Grant] = {}
        self.connections: set[tuple[str, str]] = set()
        """(client_id, account id) pairs currently connected."""

    # --- set up by tests and the demo --------------------------------------------------------

    def add_platform(self, client_id: str, secret_key: str, redirect_uris: list[str]) -> Platform:
        platform = Platform(client_id, secret_key, list(redirect_uris))
        self.platforms[client_id] = platform
        return platform

    def add_account(self, business_name: str) -> Account:
        account = Account(_token("acct_", 16), business_name)
        self.accounts[account.id] = account
        return account

    # --- the OAuth flow ----------------------------------------------------------------------

    def platform(self, client_id: str | None) -> Platform:
        platform = self.platforms.get(client_id or "")
        if platform is None:
            raise OAuthRefusal("invalid_client", f"No such application: '{client_id}'", 401)
        return platform

    def redirect_uri(self, platform: Platform, asked: str | None) -> str:
        if not asked:
            return platform.redirect_uris[0]
        if asked not in platform.redirect_uris:
            raise OAuthRefusal(
                "invalid_redirect_uri",
                f"Invalid redirect URI '{asked}'. Ensure this uri exactly matches one of the "
                "uris specified in your application settings",
            )
        return asked

    def authorise(self, client_id: str, account_id: str, scope: str) -> Grant:
        """The person allowed the platform to act on `account_id`."""
        if account_id not in self.accounts:
            raise OAuthRefusal("invalid_request", f"No such account: {account_id}")
        grant = Grant(_token("ac_"), client_id, account_id, scope, time.time())
        self.grants[grant.code] = grant
        return grant

    def platform_of_key(self, secret_key: str) -> Platform:
        for platform in self.platforms.values():
            if secrets.compare_digest(platform.secret_key, secret_key):
                return platform
        raise OAuthRefusal("invalid_client", "Invalid API Key provided", 401)

    def exchange(self, platform: Platform, code: str | None) -> tuple[Grant, Account]:
        if not code:
            raise OAuthRefusal("invalid_request", "No authorization code provided")
        grant = self.grants.get(code)
        if grant is None or grant.client_id != platform.client_id:
            raise OAuthRefusal("invalid_grant", f"Authorization code does not exist: {code}")
        if grant.used:
            raise OAuthRefusal("invalid_grant", f"Authorization code already used: {code}")
        if time.time() - grant.issued_at > CODE_SECONDS:
            raise OAuthRefusal("invalid_grant", f"Authorization code expired: {code}")
        grant.used = True
        self.connections.add((platform.client_id, grant.account_id))
        return grant, self.accounts[grant.account_id]

    def deauthorise(self, platform: Platform, client_id: str | None, account_id: str) -> None:
        if client_id != platform.client_id or (client_id, account_id) not in self.connections:
            raise OAuthRefusal(
                "invalid_client",
                f"This application is not connected to stripe account {account_id}, or that "
                "account does not exist.",
                401,
            )
        self.connections.discard((client_id, account_id))
