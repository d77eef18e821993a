"""Intuit's side of the OAuth flow (duely.integrations.ledgers.oauth_flow) for QuickBooks
Online: its endpoints, the accounting scope, and revocation. The callback names the company
(`realmId`); one grant covers one company."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from duely.integrations.ledgers.base import LedgerUnavailable
from duely.integrations.ledgers.oauth_flow import AuthorizationCodeFlow

SCOPE = "com.intuit.quickbooks.accounting"


@dataclass(frozen=True)
class QuickBooksEndpoints:
    """Intuit's OAuth and API hosts, so the same code talks to Intuit or to the sandbox.

    Intuit: authorize https://appcenter.intuit.com/connect/oauth2, token
    https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer, revoke
    https://developer.api.intuit.com/v2/oauth2/tokens/revoke, API
    https://quickbooks.api.intuit.com (sandbox companies: https://sandbox-quickbooks.api.intuit.com).
    """

    authorize: str
    token: str
    revoke: str
    api: str

    @classmethod
    def under(cls, base_url: str) -> QuickBooksEndpoints:
        """Every endpoint at the path it has on Intuit's hosts, under one base (the sandbox)."""
        return cls(
            f"{base_url}/connect/oauth2",
            f"{base_url}/oauth2/v1/tokens/bearer",
            f"{base_url}/v2/oauth2/tokens/revoke",
            base_url,
        )


class QuickBooksOAuth(AuthorizationCodeFlow):
    def __init__(self, endpoints: QuickBooksEndpoints, client_id: str, client_secret: str) -> None:
        super().__init__(
            "QuickBooks", endpoints.authorize, endpoints.token, client_id, client_secret, SCOPE
        )
        self.endpoints = endpoints
        self._basic = httpx.BasicAuth(client_id, client_secret)

    async def revoke(self, refresh_token: str) -> None:
        """End the grant (disconnecting in duely): Intuit revokes the whole grant from one of
        its tokens."""
        try:
            async with httpx.AsyncClient(timeout=30, auth=self._basic) as http:
                response = await http.post(
                    self.endpoints.revoke,
                    json={"token": refresh_token},
                    headers={"Accept": "application/json"},
                )
        except httpx.TransportError as error:
            raise LedgerUnavailable(f"QuickBooks revocation unreachable: {error}") from error
        if response.status_code >= 500:
            raise LedgerUnavailable(f"QuickBooks revocation answered {response.status_code}")
