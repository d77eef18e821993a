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

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from duely.sandbox.clock import SandboxClock
from duely.sandbox.oauth_grants import ExpiringToken, OAuthError, OAuthGrants
from duely.sandbox.oauth_grants import pkce_challenge as pkce_challenge  # tests import it here

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


class Identity(OAuthGrants[App, AuthorizationCode, Grant, RefreshToken, TokenResponse]):
    REFRESH_GRACE = REFRESH_GRACE
    INVALID_CLIENT_STATUS = 401  # Intuit answers a bad client 401, Xero 400
    MISSING_VERIFIER = "code_verifier does not match"
    state: IdentityState

    def __init__(self, clock: SandboxClock, state: IdentityState | None = None) -> None:
        super().__init__(clock, state or IdentityState())

    # --- apps ----------------------------------------------------------------------------

    def register_app(self, app: App) -> App:
        if app.webhook_format not in ("legacy", "cloudevents"):
            raise ValueError("webhook_format is legacy or cloudevents")
        return super().register_app(app)

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
        found = self._redeem_code(app, code, redirect_uri, code_verifier)
        grant = Grant(
            uuid.uuid4().hex, app.client_id, found.realm_id, found.scope, self.clock.now()
        )
        self.state.grants[grant.grant_id] = grant
        return self._issue(grant)

    def _check_refresh_token(self, record: RefreshToken, now: datetime) -> None:
        if now >= record.expires:
            raise OAuthError("invalid_grant", "The refresh token has expired")

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

    def _revocable(self, token: str) -> RefreshToken | ExpiringToken | None:
        """Intuit's revoke endpoint takes a refresh or an access token; either ends the grant."""
        return self.state.refresh_tokens.get(token) or self.state.access_tokens.get(token)

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
