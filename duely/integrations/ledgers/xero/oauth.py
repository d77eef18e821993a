"""Xero's OAuth 2.0 authorization-code flow with PKCE, token refresh and tenant listing."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError

from duely.integrations.ledgers.base import LedgerAuthError, LedgerUnavailable

with warnings.catch_warnings():
    # authlib 1.9 announces moving its httpx client to another package; this one still works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from duely.integrations.ledgers.oauth_tokens import OAuthTokens

SCOPES = (
    "openid profile email offline_access "
    "accounting.transactions accounting.contacts accounting.settings accounting.reports.read"
)
"""What duely asks Xero for: invoices, payments, credit and history (transactions); contacts
and their groups; the organisation and accounts (settings); the aged receivables report."""


@dataclass(frozen=True)
class XeroEndpoints:
    """Three base URLs, so the same code talks to real Xero or to the sandbox.

    Real Xero: login https://login.xero.com, identity https://identity.xero.com,
    api https://api.xero.com.
    """

    login_url: str
    identity_url: str
    api_url: str

    @property
    def authorize(self) -> str:
        return f"{self.login_url}/identity/connect/authorize"

    @property
    def token(self) -> str:
        return f"{self.identity_url}/connect/token"

    @property
    def revoke(self) -> str:
        return f"{self.identity_url}/connect/revocation"

    @property
    def connections(self) -> str:
        return f"{self.api_url}/connections"

    @property
    def accounting(self) -> str:
        return f"{self.api_url}/api.xro/2.0"


@dataclass(frozen=True)
class XeroTenant:
    connection_id: str
    tenant_id: str
    name: str


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str


def _tokens(payload: dict) -> OAuthTokens:
    expires_at = (
        datetime.fromtimestamp(payload["expires_at"], tz=UTC)
        if payload.get("expires_at")
        else datetime.now(UTC) + timedelta(seconds=int(payload["expires_in"]))
    )
    return OAuthTokens(payload["access_token"], payload["refresh_token"], expires_at)


class XeroOAuth:
    def __init__(self, endpoints: XeroEndpoints, client_id: str, client_secret: str) -> None:
        self.endpoints = endpoints
        self._client_id = client_id
        self._client_secret = client_secret

    def _client(self, **kwargs) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self._client_id,
            self._client_secret,
            scope=SCOPES,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
            timeout=30,
            **kwargs,
        )

    def authorization_request(self, redirect_uri: str) -> AuthorizationRequest:
        verifier = generate_token(64)
        state = generate_token(32)
        client = self._client(redirect_uri=redirect_uri)
        url, _ = client.create_authorization_url(
            self.endpoints.authorize, state=state, code_verifier=verifier
        )
        return AuthorizationRequest(url, state, verifier)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> OAuthTokens:
        async with self._client(redirect_uri=redirect_uri) as client:
            try:
                payload = await client.fetch_token(
                    self.endpoints.token, code=code, code_verifier=code_verifier
                )
            except OAuthError as error:
                raise LedgerAuthError(f"Xero refused the authorization: {error}") from error
        return _tokens(payload)

    async def refresh(self, refresh_token: str) -> OAuthTokens:
        async with self._client() as client:
            try:
                payload = await client.refresh_token(
                    self.endpoints.token, refresh_token=refresh_token
                )
            except OAuthError as error:
                if error.error == "invalid_grant":
                    raise LedgerAuthError(
                        "Xero no longer accepts duely's access (the refresh token expired or "
                        "was revoked). Reconnect to Xero to resume syncing and chasing."
                    ) from error
                raise LedgerUnavailable(f"Xero token refresh failed: {error}") from error
            except httpx.TransportError as error:
                raise LedgerUnavailable(f"Xero token endpoint unreachable: {error}") from error
        return _tokens(payload)

    async def tenants(self, access_token: str) -> list[XeroTenant]:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(
                self.endpoints.connections, headers={"Authorization": f"Bearer {access_token}"}
            )
        response.raise_for_status()
        return [
            XeroTenant(item["id"], item["tenantId"], item.get("tenantName") or "")
            for item in response.json()
            if item.get("tenantType", "ORGANISATION") == "ORGANISATION"
        ]

    async def disconnect(self, access_token: str, connection_id: str) -> None:
        """Drop a tenant from the grant, so it covers only what the user chose."""
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.delete(
                f"{self.endpoints.connections}/{connection_id}",
                headers={"Authorization": f"Bearer {access_token}"},
            )
        response.raise_for_status()
