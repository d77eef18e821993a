"""Intuit's OAuth 2.0 service: apps, authorisation codes, grants, rotating refresh tokens.

Intuit's rules: one authorisation connects one company (realm); codes are single-use and live
5 minutes; access tokens live 1 hour; every refresh answers a new refresh token, and the one it
replaces may be retried for a short grace (answering the same new pair) and is then
`invalid_grant`. A refresh token lives 100 days from its issue (rolling) and never past 5
years from the user's consent; the token response says how long in `x_refresh_token_expires_in`.
Revoking either token ends the grant and disconnects the realm. Times come from the sandbox
clock. No OpenID: the sandbox issues no id_token (Intuit signs those with RS256 keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from duely.sandbox.clock import SandboxClock

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
CODE_LIFETIME = timedelta(minutes=5)
REFRESH_GRACE = timedelta(minutes=30)
REFRESH_ROLLING_LIFETIME = timedelta(days=100)
GRANT_MAXIMUM_LIFETIME = timedelta(days=5 * 365)
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        "com.intuit.quickbooks.payment",
        "openid",
        "profile",
        "email",
        "phone",
        "address",
    }
)


class OAuthError(Exception):
    """An OAuth error answered as `{"error": ...}` (HTTP 400 unless said otherwise)."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(description or error)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class App:
    """An app on Intuit's developer portal. `webhook_format` is how its webhooks come:
    "legacy" (eventNotifications) or "cloudevents" (the CloudEvents array)."""

    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    webhook_url: str = ""
    verifier_token: str = ""
    webhook_format: str = "legacy"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    realm_id: str
    expires: datetime
    code_challenge: str = ""
    code_challenge_method: str = ""
    used: bool = False


@dataclass
class TokenResponse:
    """The body of a token response, kept so a refresh retried in its grace gets it again."""

    access_token: str
    refresh_token: str
    expires_in: int
    x_refresh_token_expires_in: int

    def as_json(self) -> dict:
        return {
            "token_type": "bearer",
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "x_refresh_token_expires_in": self.x_refresh_token_expires_in,
        }


@dataclass
class AccessToken:
    token: str
    grant_id: str
    client_id: str
    realm_id: str
    scope: str
    expires: datetime


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    expires: datetime
    replaced_at: datetime | None = None
    successor: TokenResponse | None = None


@dataclass
class Grant:
    """One user's consent: one app connected to one realm."""

    grant_id: str
    client_id: str
    realm_id: str
    scope: str
    created: datetime
    revoked: bool = False


@dataclass
class IdentityState:
    apps: dict[str, App] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Identity:
    def __init__(self, clock: SandboxClock, state: IdentityState | None = None) -> None:
        self.clock = clock
        self.state = state or IdentityState()

    # --- apps ----------------------------------------------------------------------------

    def register_app(self, app: App) -> App:
        if app.webhook_format not in ("legacy", "cloudevents"):
            raise ValueError("webhook_format is legacy or cloudevents")
        self.state.apps[app.client_id] = app
        return app

    def app(self, client_id: str) -> App | None:
        return self.state.apps.get(client_id)

    def check_client(self, client_id: str, client_secret: str | None) -> App:
        app = self.app(client_id)
        if app is None or not hmac.compare_digest(app.client_secret, client_secret or ""):
            raise OAuthError("invalid_client", status=401)
        return app

    # --- authorisation -------------------------------------------------------------------

    def authorise(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        realm_id: str,
        code_challenge: str = "",
        code_challenge_method: str = "",
    ) -> str:
        """The user connected `realm_id` on the consent page: a code for the redirect."""
        code = secrets.token_urlsafe(24)
        self.state.codes[code] = AuthorizationCode(
            code=code,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            realm_id=realm_id,
            expires=self.clock.now() + CODE_LIFETIME,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
        )
        return code

    def exchange_code(
        self, app: App, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenResponse:
        found = self.state.codes.get(code)
        if found is None or found.client_id != app.client_id or found.used:
            raise OAuthError("invalid_grant")
        found.used = True
        if self.clock.now() > found.expires or found.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant")
        if found.code_challenge:
            expected = (
                pkce_challenge(code_verifier or "")
                if found.code_challenge_method == "S256"
                else code_verifier or ""
            )
            if not code_verifier or not hmac.compare_digest(expected, found.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match")
        grant = Grant(
            uuid.uuid4().hex, app.client_id, found.realm_id, found.scope, self.clock.now()
        )
        self.state.grants[grant.grant_id] = grant
        return self._issue(grant)

    def refresh(self, app: App, refresh_token: str) -> TokenResponse:
        now = self.clock.now()
        record = self.state.refresh_tokens.get(refresh_token)
        grant = self.state.grants.get(record.grant_id) if record else None
        if record is None or grant is None or grant.revoked or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant")
        if now >= record.expires:
            raise OAuthError("invalid_grant", "The refresh token has expired")
        if record.successor is not None:
            assert record.replaced_at is not None
            if now - record.replaced_at <= REFRESH_GRACE:
                return record.successor
            raise OAuthError("invalid_grant")
        record.successor = self._issue(grant)
        record.replaced_at = now
        return record.successor

    def _issue(self, grant: Grant) -> TokenResponse:
        now = self.clock.now()
        access = "qbo-at-" + secrets.token_urlsafe(40)
        self.state.access_tokens[access] = AccessToken(
            access,
            grant.grant_id,
            grant.client_id,
            grant.realm_id,
            grant.scope,
            now + ACCESS_TOKEN_LIFETIME,
        )
        refresh_expires = min(
            now + REFRESH_ROLLING_LIFETIME, grant.created + GRANT_MAXIMUM_LIFETIME
        )
        refresh = "qbo-rt-" + secrets.token_urlsafe(32)
        self.state.refresh_tokens[refresh] = RefreshToken(refresh, grant.grant_id, refresh_expires)
        return TokenResponse(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            x_refresh_token_expires_in=max(int((refresh_expires - now).total_seconds()), 0),
        )

    # --- revocation ----------------------------------------------------------------------

    def revoke(self, app: App, token: str) -> None:
        """The revoke endpoint takes a refresh or an access token; either ends the grant."""
        record = self.state.refresh_tokens.get(token) or self.state.access_tokens.get(token)
        if record is None:
            return
        grant = self.state.grants.get(record.grant_id)
        if grant is not None and grant.client_id == app.client_id:
            grant.revoked = True

    def revoke_grant(self, grant_id: str) -> None:
        self.state.grants[grant_id].revoked = True

    def expire_access_tokens(self, grant_id: str) -> int:
        """Make a grant's access tokens expired now (admin); returns how many there were."""
        expired = 0
        past = self.clock.now() - timedelta(seconds=1)
        for token in self.state.access_tokens.values():
            if token.grant_id == grant_id and token.expires > past:
                token.expires = past
                expired += 1
        return expired

    # --- the API's side ------------------------------------------------------------------

    def authenticate(self, bearer: str) -> AccessToken | None:
        """The live access token, or None (unknown, expired or its grant revoked)."""
        token = self.state.access_tokens.get(bearer)
        if token is None or self.clock.now() >= token.expires:
            return None
        grant = self.state.grants.get(token.grant_id)
        if grant is None or grant.revoked:
            return None
        return token

    def connected_apps(self, realm_id: str) -> list[App]:
        """Apps with a live grant on the realm (webhooks go to them)."""
        client_ids = {
            g.client_id
            for g in self.state.grants.values()
            if g.realm_id == realm_id and not g.revoked
        }
        return [app for client_id, app in self.state.apps.items() if client_id in client_ids]
