"""One ledger sandbox as the end-to-end tests drive it, whichever ledger it is.

The tests in this folder prove the same promises for every ledger duely connects (the issue's
"done when"): each `LedgerUnderTest` says, in its own sandbox's terms, how a company is seeded,
connected, changed, stormed, revoked and paid, and what duely should mirror of it. Nothing here
talks to duely except through its web pages and the OAuth redirects a browser follows.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

import httpx

from duely.core.money import to_major
from duely.models import Provider
from duely.sandbox.faults import FaultRule
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.consent import connect_company
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.consent import allow_access
from duely.sandbox.xero.webhooks import WebhookSettings
from tests.conftest import csrf_from, login

WEBHOOK_KEY = "test-webhook-key"
CLIENT_ID, CLIENT_SECRET = "duely-test", "duely-test-secret"


@dataclass(frozen=True)
class Facts:
    """What duely must mirror of one invoice."""

    number: str
    due_date: date
    currency: str
    total: int
    amount_due: int


class LedgerUnderTest:
    name: ClassVar[str]
    """The provider's slug in duely's routes (/connections/{name}/...)."""
    label: ClassVar[str]
    """How duely names the ledger to people ("Reconnect to Xero")."""
    provider: ClassVar[Provider]
    payment_accounts: ClassVar[str]
    """The organisation's card-payment accounts setting this ledger needs."""
    zone_of_australia: ClassVar[str]
    """The time zone duely suggests for a company in Sydney ("" when the ledger's profile
    names none: QuickBooks keeps no time zone)."""
    sandbox: Any

    def settings(self) -> dict[str, object]:
        """duely's settings for this ledger's test app (its URLs follow the sandbox port)."""
        raise NotImplementedError

    def add_company(self, name: str, invoices: int, seed: int, country: str = "GB") -> Any:
        raise NotImplementedError

    def tenant_id(self, company: Any) -> str:
        raise NotImplementedError

    def company_name(self, company: Any) -> str:
        raise NotImplementedError

    async def consent(self, authorize_url: str) -> dict[str, str]:
        """A person's consent on the ledger's page: the callback's query parameters."""
        raise NotImplementedError

    def consent_directly(self, company: Any) -> Any:
        """Consent and code exchange in one step: the token answer."""
        raise NotImplementedError

    def mirrored(self, company: Any) -> dict[str, Facts]:
        """Every invoice duely should hold, by its id in the ledger."""
        raise NotImplementedError

    def customer_ids(self, company: Any) -> set[str]:
        """Every customer duely should hold."""
        raise NotImplementedError

    def due_in(self, company: Any, days: int) -> None:
        """Every open invoice due `days` from the ledger's today."""
        raise NotImplementedError

    def touch_invoices(self, company: Any, count: int, rng: random.Random) -> set[str]:
        """Change `count` open invoices as people do in the ledger; their ids."""
        raise NotImplementedError

    def storm(self, rate: float) -> None:
        """Refuse this share of the invoice reads with 429, at random (seeded)."""
        raise NotImplementedError

    @property
    def refused(self) -> Counter[str]:
        """Calls the ledger's own rate limits turned away (duely going over them)."""
        return self.sandbox.limiter.refused

    def revoke(self, company: Any) -> None:
        """Disconnect duely in the ledger, its access tokens expired with it."""
        raise NotImplementedError

    def pay_in_full(self, company: Any, external_id: str) -> None:
        """A payment recorded in the ledger by the bookkeeper, unknown to duely."""
        raise NotImplementedError

    def payments_for(self, company: Any, reference: str) -> list[Any]:
        """The ledger's payments written for one of duely's references."""
        raise NotImplementedError

    def hold_payment_answers(self, milliseconds: int) -> None:
        """Record payments at once but hold the answer: a writer killed meanwhile never
        hears that its write happened."""
        raise NotImplementedError

    def clear_faults(self) -> None:
        self.sandbox.faults.clear()

    async def connect_through_oauth(self, duely: httpx.AsyncClient, admin: str) -> httpx.Response:
        """A person's round trip: duely's Connections page -> the ledger's consent page ->
        duely's callback; the callback's answer."""
        await login(duely, admin)
        page = await duely.get("/connections")
        assert f"Connect to {self.label}" in page.text
        start = await duely.post(
            f"/connections/{self.name}/connect",
            data={"_csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert start.status_code == 303, start.text
        answer = await self.consent(start.headers["location"])
        return await duely.get(
            f"/connections/{self.name}/callback", params=answer, follow_redirects=False
        )


class XeroUnderTest(LedgerUnderTest):
    name, label, provider = "xero", "Xero", Provider.XERO
    payment_accounts = "*=615"  # the sandbox's clearing account, which takes any currency
    zone_of_australia = "Australia/Sydney"

    def __init__(self, duely_url: str) -> None:
        self.sandbox = XeroSandbox(
            webhook_settings=WebhookSettings(batch_delay=0.05, first_backoff=0.05)
        )
        self.sandbox.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            "duely (tests)",
            [f"{duely_url}/connections/xero/callback"],
            webhook_url=f"{duely_url}/webhooks/xero",
            webhook_key=WEBHOOK_KEY,
        )

    def settings(self) -> dict[str, object]:
        return {
            "xero_client_id": CLIENT_ID,
            "xero_client_secret": CLIENT_SECRET,
            "xero_webhook_key": WEBHOOK_KEY,
        }

    def add_company(self, name: str, invoices: int, seed: int, country: str = "GB") -> Any:
        return self.sandbox.add_tenant(name, invoices, seed=seed, country=country)

    def tenant_id(self, company: Any) -> str:
        return str(company.tenant_id)

    def company_name(self, company: Any) -> str:
        return str(company.organisation.name)

    async def consent(self, authorize_url: str) -> dict[str, str]:
        return await allow_access(authorize_url)

    def consent_directly(self, company: Any) -> Any:
        return self.sandbox.connect(CLIENT_ID, [company.tenant_id])

    def mirrored(self, company: Any) -> dict[str, Facts]:
        return {
            i.invoice_id: Facts(i.number, i.due_date, i.currency, i.total, i.amount_due)
            for i in company.invoices.values()
            if i.kind == "ACCREC"
        }

    def customer_ids(self, company: Any) -> set[str]:
        customers = {c.contact_id for c in company.contacts.values() if c.is_customer}
        sales = {i.contact_id for i in company.invoices.values() if i.kind == "ACCREC"}
        return customers | sales

    def due_in(self, company: Any, days: int) -> None:
        later = self.sandbox.clock.today() + timedelta(days=days)
        for invoice in company.invoices.values():
            self.sandbox.store.update_invoice(
                company.tenant_id, invoice.invoice_id, {"due_date": later}
            )

    def touch_invoices(self, company: Any, count: int, rng: random.Random) -> set[str]:
        organisation_id = company.organisation.organisation_id
        return set(self.sandbox.store.touch_invoices(organisation_id, count, rng))

    def storm(self, rate: float) -> None:
        rule = FaultRule(path_contains="/Invoices", rate_429=rate, retry_after=1)
        self.sandbox.faults.replace([rule], seed=7)

    def revoke(self, company: Any) -> None:
        for grant in list(self.sandbox.identity.state.grants):
            self.sandbox.identity.revoke_grant(grant)
        self.sandbox.clock.advance(31 * 60)  # the access token is past its 30 minutes too

    def pay_in_full(self, company: Any, external_id: str) -> None:
        self.sandbox.store.update_invoice(company.tenant_id, external_id, {"status": "PAID"})

    def payments_for(self, company: Any, reference: str) -> list[Any]:
        return [p for p in company.payments.values() if p.reference == reference]

    def hold_payment_answers(self, milliseconds: int) -> None:
        rule = FaultRule(path_contains="/Payments", method="PUT", answer_delay_ms=milliseconds)
        self.sandbox.faults.replace([rule])


class QuickBooksUnderTest(LedgerUnderTest):
    name, label, provider = "quickbooks", "QuickBooks", Provider.QUICKBOOKS
    payment_accounts = ""  # QuickBooks books card takings to Undeposited Funds by itself
    zone_of_australia = ""

    def __init__(self, duely_url: str) -> None:
        self.sandbox = QuickBooksSandbox()
        callback = f"{duely_url}/connections/quickbooks/callback"
        self.sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely (tests)", [callback])

    def settings(self) -> dict[str, object]:
        return {
            "quickbooks_client_id": CLIENT_ID,
            "quickbooks_client_secret": CLIENT_SECRET,
            # QuickBooks' 429 names no wait and Intuit says a minute: a storm would take an
            # hour. What is tested is that the sync waits and goes on, not how long.
            "quickbooks_throttle_seconds": 1.0,
        }

    def add_company(self, name: str, invoices: int, seed: int, country: str = "GB") -> Any:
        return self.sandbox.add_company(name, invoices, seed=seed, country=country)

    def tenant_id(self, company: Any) -> str:
        return str(company.realm_id)

    def company_name(self, company: Any) -> str:
        return str(company.name)

    async def consent(self, authorize_url: str) -> dict[str, str]:
        return await connect_company(authorize_url)

    def consent_directly(self, company: Any) -> Any:
        return self.sandbox.connect(CLIENT_ID, company.realm_id)

    def mirrored(self, company: Any) -> dict[str, Facts]:
        return {
            i.id: Facts(i.doc_number, i.due_date, i.currency, i.total, i.balance)
            for i in company.invoices.values()
        }

    def customer_ids(self, company: Any) -> set[str]:
        return set(company.customers) | {i.customer_id for i in company.invoices.values()}

    def due_in(self, company: Any, days: int) -> None:
        later = (self.sandbox.clock.today() + timedelta(days=days)).isoformat()
        for invoice_id in list(company.invoices):
            self.sandbox.store.edit_invoice(company.realm_id, {"Id": invoice_id, "DueDate": later})

    def touch_invoices(self, company: Any, count: int, rng: random.Random) -> set[str]:
        """Due dates pushed out and amounts corrected, as a bookkeeper does; a second
        later than anything before, since QuickBooks stamps changes to the second."""
        self.sandbox.clock.advance(2)
        owing = sorted(i.id for i in company.invoices.values() if i.balance > 0 and not i.voided)
        chosen = rng.sample(owing, count)
        for position, invoice_id in enumerate(chosen):
            invoice = company.invoices[invoice_id]
            change: dict[str, object] = {"Id": invoice_id}
            if position % 2:  # a line added: 10.00 more
                change["TotalAmt"] = float(to_major(invoice.total + 1000, invoice.currency))
            else:
                later = invoice.due_date + timedelta(days=rng.randint(3, 21))
                change["DueDate"] = later.isoformat()
            self.sandbox.store.edit_invoice(company.realm_id, change)
        return set(chosen)

    def storm(self, rate: float) -> None:
        self.sandbox.faults.replace([FaultRule(path_contains="/query", rate_429=rate)], seed=7)

    def revoke(self, company: Any) -> None:
        for grant in list(self.sandbox.identity.state.grants.values()):
            self.sandbox.identity.revoke_grant(grant.grant_id)
            self.sandbox.identity.expire_access_tokens(grant.grant_id)

    def pay_in_full(self, company: Any, external_id: str) -> None:
        self.sandbox.store.pay_in_full(company.realm_id, external_id)

    def payments_for(self, company: Any, reference: str) -> list[Any]:
        return [p for p in company.payments.values() if p.private_note == reference]

    def hold_payment_answers(self, milliseconds: int) -> None:
        rule = FaultRule(path_contains="/payment", method="POST", answer_delay_ms=milliseconds)
        self.sandbox.faults.replace([rule])


LEDGERS: dict[str, type[LedgerUnderTest]] = {
    "xero": XeroUnderTest,
    "quickbooks": QuickBooksUnderTest,
}
