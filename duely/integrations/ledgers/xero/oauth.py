"""Xero's side of the OAuth flow (duely.integrations.ledgers.oauth_flow): its endpoints,
scopes, and the tenant connections a grant covers."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from duely.integrations.ledgers.oauth_flow import AuthorizationCodeFlow

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


class XeroOAuth(AuthorizationCodeFlow):
    def __init__(self, endpoints: XeroEndpoints, client_id: str, client_secret: str) -> None:
        super().__init__(
            "Xero", endpoints.authorize, endpoints.token, client_id, client_secret, SCOPES
        )
        self.endpoints = endpoints

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
