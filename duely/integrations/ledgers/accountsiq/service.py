"""AccountsIQ's web service in each of its locations, and signing in to it.

AccountsIQ keeps each company in one location (us1, eu1, eu2, uk1), each on its own host:
a Company ID tried in the wrong location is refused like a wrong key, which is the commonest
reason a connection fails. Signing in (`Login`) takes the company's ID, duely's partner key
and the User Key the company's user requested in AccountsIQ, and opens a session for 20
minutes; the session token is every later call's first parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element

import httpx

from duely.integrations.ledgers.accountsiq import soap
from duely.integrations.ledgers.base import LedgerAuthError, LedgerUnavailable
from duely.integrations.ledgers.oauth_tokens import OAuthTokens

LOCATIONS = {
    "uk1": "United Kingdom (UK1)",
    "eu1": "Europe 1 (EU1)",
    "eu2": "Europe 2 (EU2)",
    "us1": "United States (US1)",
}
"""Each location as AccountsIQ names it to its users, who see it in their sign-in address
(uk1.accountsiq.com ...)."""
SERVICE_PATH = "/system/dashboard/integration/integration_1_1.asmx"
SESSION_LIFETIME = timedelta(minutes=20)
_STRAY = " \t\r\n,;'\""
_KEY = re.compile(r"^[A-Za-z0-9+/=_-]{8,200}$")


class NotSignedIn(LedgerAuthError):
    """AccountsIQ refused the Company ID and User Key in this location."""


@dataclass(frozen=True)
class Credentials:
    company_id: str
    user_key: str
    location: str

    @classmethod
    def pasted(cls, company_id: str, user_key: str, location: str) -> Credentials:
        """As a person pasted them: stray spaces, commas and quotes around them (and inside a
        key copied across a line break) are not part of them."""
        return cls(
            company_id.strip(_STRAY),
            re.sub(r"\s+", "", user_key).strip(_STRAY),
            location.strip().lower(),
        )

    def problem(self) -> str:
        """Why these cannot be right before asking AccountsIQ ("" when they may be)."""
        if self.location not in LOCATIONS:
            return "Choose the location your company is in."
        if not self.company_id:
            return "Enter your Company ID."
        if not self.user_key:
            return "Enter your User Key."
        if not _KEY.match(self.user_key):
            return (
                "That User Key is not in the shape AccountsIQ gives: copy it again from "
                "Setup > Company Details & Settings > Integration > Request User Key."
            )
        return ""


class AccountsIQService:
    """Calls to the web service of any location, with duely's partner key."""

    def __init__(self, http: httpx.AsyncClient, url_template: str, partner_key: str) -> None:
        self._http = http
        self._url_template = url_template
        self._partner_key = partner_key

    def url(self, location: str) -> str:
        return self._url_template.replace("{region}", location) + SERVICE_PATH

    async def call(
        self, location: str, operation: str, parameters: Iterable[tuple[str, soap.Value]]
    ) -> Element:
        """The operation's response element; LedgerUnavailable when the service cannot be
        reached or cannot read the call."""
        try:
            response = await self._http.post(
                self.url(location),
                content=soap.envelope(operation, parameters),
                headers={
                    "Content-Type": soap.CONTENT_TYPE,
                    "SOAPAction": soap.soap_action(operation),
                },
            )
        except httpx.TransportError as error:
            raise LedgerUnavailable(f"AccountsIQ unreachable: {error!r}") from error
        if response.status_code >= 500 and b"Fault" not in response.content:
            raise LedgerUnavailable(f"AccountsIQ answered {response.status_code}")
        try:
            return soap.response(response.content, operation)
        except soap.SoapFault as fault:
            raise LedgerUnavailable(f"AccountsIQ could not read the call: {fault}") from fault

    async def login(self, credentials: Credentials) -> OAuthTokens:
        """A session for the company: its token, the user key to open the next one, and when
        it ends. NotSignedIn when AccountsIQ refuses them in that location."""
        started = datetime.now(UTC)
        answer = await self.call(
            credentials.location,
            "Login",
            [
                ("companyID", credentials.company_id),
                ("partnerKey", self._partner_key),
                ("userKey", credentials.user_key),
            ],
        )
        token = soap.text(answer, "LoginResult")
        if not token:
            raise NotSignedIn(
                f"AccountsIQ did not accept Company ID {credentials.company_id} with its User "
                f"Key in {LOCATIONS[credentials.location]} (a key stops working when a new one "
                "is requested). Reconnect to AccountsIQ to resume syncing and chasing."
            )
        return OAuthTokens(token, credentials.user_key, started + SESSION_LIFETIME)

    async def locate(self, credentials: Credentials) -> str | None:
        """The location where these credentials sign in, the chosen one first; None when
        none accepts them (a wrong or revoked key, or an unknown company)."""
        order = [credentials.location, *(c for c in LOCATIONS if c != credentials.location)]
        for location in order:
            try:
                there = Credentials(credentials.company_id, credentials.user_key, location)
                await self.login(there)
            except NotSignedIn:
                continue
            return location
        return None
