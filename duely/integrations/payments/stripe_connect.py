"""Stripe Connect OAuth for Standard accounts: how a business links its own Stripe account.

The admin is sent to Stripe (`authorize_url`), signs in there and picks the account; Stripe
sends them back with a one-time code, which the platform's server turns into the account's
`acct_...` (`connected_account`). Only that answer names an account: nobody can type in
another business's account id. `disconnect` tells Stripe the platform lets go of it.

Calls go to connect.stripe.com (or the sandbox's emulator) with httpx: the stripe package's
OAuth client has no async methods, and its sync ones would block the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

TIMEOUT = 20.0


class ConnectRefused(Exception):
    """Stripe would not connect (or disconnect) the account; the message says why."""


@dataclass(frozen=True)
class ConnectedAccount:
    account_id: str
    publishable_key: str
    livemode: bool


@dataclass(frozen=True)
class StripeConnect:
    base_url: str
    client_id: str
    platform_key: str

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "scope": "read_write",  # duely creates PaymentIntents on the account
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self.base_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"

    async def connected_account(self, code: str) -> ConnectedAccount:
        answer = await self._post(
            "/oauth/token", {"grant_type": "authorization_code", "code": code}
        )
        account_id = answer.get("stripe_user_id")
        if not isinstance(account_id, str) or not account_id.startswith("acct_"):
            raise ConnectRefused("Stripe's answer named no account")
        return ConnectedAccount(
            account_id,
            str(answer.get("stripe_publishable_key") or ""),
            bool(answer.get("livemode")),
        )

    async def disconnect(self, account_id: str) -> None:
        await self._post(
            "/oauth/deauthorize", {"client_id": self.client_id, "stripe_user_id": account_id}
        )

    async def _post(self, path: str, form: dict[str, str]) -> dict:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(
                    f"{self.base_url.rstrip('/')}{path}",
                    data=form,
                    headers={"Authorization": f"Bearer {self.platform_key}"},
                )
        except httpx.HTTPError as error:
            raise ConnectRefused(f"Stripe could not be reached ({type(error).__name__})") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code != 200 or not answer:
            said = answer.get("error_description") or answer.get("error")
            raise ConnectRefused(said or f"Stripe answered {response.status_code}")
        return answer
