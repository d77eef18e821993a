"""The OAuth 2.0 authorization-code flow both ledgers use (Xero, QuickBooks Online): PKCE,
HTTP Basic client authentication at the token endpoint, refresh tokens that rotate. Each
ledger's module adds what is its own (Xero's tenant connections, Intuit's revocation)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError

from duely.integrations.ledgers.base import LedgerAuthError, LedgerUnavailable
from duely.integrations.ledgers.oauth_tokens import OAuthTokens

with warnings.catch_warnings():
    # authlib 1.9 announces moving its httpx client to another package; this one still works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str


def tokens_of(payload: dict[str, Any]) -> OAuthTokens:
    expires_at = (
        datetime.fromtimestamp(payload["expires_at"], tz=UTC)
        if payload.get("expires_at")
        else datetime.now(UTC) + timedelta(seconds=int(payload["expires_in"]))
    )
    return OAuthTokens(payload["access_token"], payload["refresh_token"], expires_at)


class AuthorizationCodeFlow:
    def __init__(
        self,
        ledger_name: str,
        authorize_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
    ) -> None:
        self._ledger_name = ledger_name
        self._authorize_url = authorize_url
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope

    def _client(self, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self._client_id,
            self._client_secret,
            scope=self._scope,
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
            self._authorize_url, state=state, code_verifier=verifier
        )
        return AuthorizationRequest(url, state, verifier)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> OAuthTokens:
        async with self._client(redirect_uri=redirect_uri) as client:
            try:
                payload = await client.fetch_token(
                    self._token_url, code=code, code_verifier=code_verifier
                )
            except OAuthError as error:
                raise LedgerAuthError(
                    f"{self._ledger_name} refused the authorization: {error}"
                ) from error
        return tokens_of(payload)

    async def refresh(self, refresh_token: str) -> OAuthTokens:
        name = self._ledger_name
        async with self._client() as client:
            try:
                payload = await client.refresh_token(self._token_url, refresh_token=refresh_token)
            except OAuthError as error:
                if error.error == "invalid_grant":
                    raise LedgerAuthError(
                        f"{name} no longer accepts duely's access (the refresh token expired or "
                        f"was revoked). Reconnect to {name} to resume syncing and chasing."
                    ) from error
                raise LedgerUnavailable(f"{name} token refresh failed: {error}") from error
            except httpx.TransportError as error:
                raise LedgerUnavailable(f"{name} token endpoint unreachable: {error}") from error
        return tokens_of(payload)
