"""Xero's identity service: apps, authorisation codes, grants, rotating tokens, connections.

The rules are Xero's: codes are single-use and live 5 minutes; access tokens live 30
minutes; every refresh returns a new refresh token, the old one may be retried for a
30-minute grace (answering the same new pair) and then, like an unknown, revoked or
60-days-unused one, gets `invalid_grant`. Times come from the sandbox clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from duely.sandbox.clock import SandboxClock
from duely.sandbox.oauth_grants import OAuthError, OAuthGrants
from duely.sandbox.oauth_grants import pkce_challenge as pkce_challenge  # callers import it here

ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
CODE_LIFETIME = timedelta(minutes=5)
REFRESH_GRACE = timedelta(minutes=30)
REFRESH_IDLE_LIMIT = timedelta(days=60)
SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "offline_access",
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.contacts",
        "accounting.contacts.read",
        "accounting.settings",
        "accounting.settings.read",
        "accounting.attachments",
        "accounting.attachments.read",
        "accounting.reports.read",
        "accounting.journals.read",
        "accounting.budgets.read",
    }
)
# The one person the sandbox knows: the user who ticks organisations on the consent page.
SANDBOX_USER = {
    "xero_userid": "5b2b6b9e-2f54-4b55-9a33-6a7d1e0c0d11",
    "email": "owner@example.com",
    "given_name": "Sandbox",
    "family_name": "Owner",
}
ISSUER = "duely-sandbox-identity"


class TokenRejected(Exception):
    """An access token the API refuses: `detail` is Xero's 401 Detail text."""

    def __init__(self, detail: str, expired_at: datetime | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expired_at = expired_at


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    webhook_url: str = ""
    webhook_key: str = ""


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    tenant_ids: list[str]
    expires: datetime
    auth_event_id: str
    code_challenge: str = ""
    code_challenge_method: str = ""
    used: bool = False


@dataclass
class Connection:
    id: str
    client_id: str
    tenant_id: str
    auth_event_id: str
    created: datetime
    updated: datetime


@dataclass
class TokenResponse:
    """The body of a token response, kept so a refresh retried in its grace gets it again."""

    access_token: str
    refresh_token: str
    id_token: str
    expires_in: int
    scope: str

    def as_json(self) -> dict:
        body = {
            "id_token": self.id_token,
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }
        return {name: value for name, value in body.items() if value != ""}


@dataclass
class AccessToken:
    token: str
    grant_id: str
    client_id: str
    scope: str
    expires: datetime


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    issued: datetime
    replaced_at: datetime | None = None
    successor: TokenResponse | None = None


@dataclass
class Grant:
    """One user's consent to one app (Xero's authentication event)."""

    grant_id: str
    client_id: str
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
    connections: dict[str, Connection] = field(default_factory=dict)
    signing_key: str = field(default_factory=lambda: secrets.token_hex(32))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Identity(OAuthGrants[App, AuthorizationCode, Grant, RefreshToken, TokenResponse]):
    REFRESH_GRACE = REFRESH_GRACE
    state: IdentityState

    def __init__(self, clock: SandboxClock, state: IdentityState | None = None) -> None:
        super().__init__(clock, state or IdentityState())

    # --- authorisation -------------------------------------------------------------------

    def authorise(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        tenant_ids: list[str],
        code_challenge: str = "",
        code_challenge_method: str = "",
    ) -> str:
        """The user allowed access to `tenant_ids`: connect them and return a code."""
        now = self.clock.now()
        auth_event_id = str(uuid.uuid4())
        for tenant_id in tenant_ids:
            self._connect(client_id, tenant_id, auth_event_id, now)
        code = secrets.token_urlsafe(32)
        self.state.codes[code] = AuthorizationCode(
            code=code,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            tenant_ids=tenant_ids,
            expires=now + CODE_LIFETIME,
            auth_event_id=auth_event_id,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
        )
        return code

    def _connect(self, client_id: str, tenant_id: str, auth_event_id: str, now: datetime) -> None:
        for connection in self.state.connections.values():
            if connection.client_id == client_id and connection.tenant_id == tenant_id:
                connection.auth_event_id = auth_event_id
                connection.updated = now
                return
        connection_id = str(uuid.uuid4())
        self.state.connections[connection_id] = Connection(
            connection_id, client_id, tenant_id, auth_event_id, now, now
        )

    def exchange_code(
        self, app: App, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenResponse:
        found = self._redeem_code(app, code, redirect_uri, code_verifier)
        grant = Grant(found.auth_event_id, app.client_id, found.scope, self.clock.now())
        self.state.grants[grant.grant_id] = grant
        return self._issue(grant)

    def _check_refresh_token(self, record: RefreshToken, now: datetime) -> None:
        # Only an unused token goes stale: a replaced one is judged by the grace alone.
        if record.successor is None and now - record.issued > REFRESH_IDLE_LIMIT:
            raise OAuthError("invalid_grant")

    def _issue(self, grant: Grant) -> TokenResponse:
        now = self.clock.now()
        expires = now + ACCESS_TOKEN_LIFETIME
        scopes = grant.scope.split()
        access_token = self._jwt(
            {
                "nbf": int(now.timestamp()),
                "exp": int(expires.timestamp()),
                "iss": ISSUER,
                "aud": f"{ISSUER}/resources",
                "client_id": grant.client_id,
                "sub": SANDBOX_USER["xero_userid"],
                "auth_time": int(grant.created.timestamp()),
                "xero_userid": SANDBOX_USER["xero_userid"],
                "global_session_id": grant.grant_id,
                "jti": uuid.uuid4().hex,
                "authentication_event_id": grant.grant_id,
                "scope": scopes,
            }
        )
        self.state.access_tokens[access_token] = AccessToken(
            access_token, grant.grant_id, grant.client_id, grant.scope, expires
        )
        refresh_token = ""
        if "offline_access" in scopes:
            refresh_token = secrets.token_hex(32)
            self.state.refresh_tokens[refresh_token] = RefreshToken(
                refresh_token, grant.grant_id, now
            )
        id_token = ""
        if "openid" in scopes:
            id_token = self._jwt(
                {
                    "nbf": int(now.timestamp()),
                    "exp": int((now + timedelta(minutes=5)).timestamp()),
                    "iss": ISSUER,
                    "aud": grant.client_id,
                    "iat": int(now.timestamp()),
                    "sub": SANDBOX_USER["xero_userid"],
                    "auth_time": int(grant.created.timestamp()),
                    "preferred_username": SANDBOX_USER["email"],
                    **SANDBOX_USER,
                }
            )
        return TokenResponse(
            access_token=access_token,
            refresh_token=refresh_token,
            id_token=id_token,
            expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            scope=grant.scope,
        )

    def _jwt(self, claims: dict) -> str:
        """A JWT like Xero's tokens (clients may decode them); signed HS256 with a sandbox key."""
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(
            self.state.signing_key.encode(), f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    # --- revocation ----------------------------------------------------------------------

    def revoke_grant(self, grant_id: str) -> None:
        """The grant dies (POST /connect/revocation or the admin API), and with it its
        tenants' connections."""
        super().revoke_grant(grant_id)
        for connection_id, connection in list(self.state.connections.items()):
            if connection.auth_event_id == grant_id:
                del self.state.connections[connection_id]

    # --- the API's side ------------------------------------------------------------------

    def authenticate(self, bearer: str) -> AccessToken:
        token = self.state.access_tokens.get(bearer)
        if token is None:
            raise TokenRejected("AuthenticationUnsuccessful")
        grant = self.state.grants.get(token.grant_id)
        if grant is None or grant.revoked:
            raise TokenRejected("AuthenticationUnsuccessful")
        if self.clock.now() >= token.expires:
            detail = f"TokenExpired: token expired at {token.expires:%m/%d/%Y %H:%M:%S}"
            raise TokenRejected(detail, token.expires)
        return token

    def connections_of(self, client_id: str, auth_event_id: str | None = None) -> list:
        return [
            connection
            for connection in self.state.connections.values()
            if connection.client_id == client_id
            and (auth_event_id is None or connection.auth_event_id == auth_event_id)
        ]

    def is_connected(self, client_id: str, tenant_id: str) -> bool:
        return any(c.tenant_id == tenant_id for c in self.connections_of(client_id))

    def disconnect(self, client_id: str, connection_id: str) -> bool:
        connection = self.state.connections.get(connection_id)
        if connection is None or connection.client_id != client_id:
            return False
        del self.state.connections[connection_id]
        return True
