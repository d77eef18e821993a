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
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx

from duely.core.money import to_major
from duely.models import Provider
from duely.sandbox.accountsiq import AccountsIQSandbox
from duely.sandbox.accountsiq.company import UserKey
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
    tells_country: ClassVar[bool] = True
    """Whether the ledger's profile names the company's country (AccountsIQ's does not)."""
    sandbox: Any

    def settings(self) -> dict[str, object]:
        """duely's settings for this ledger's test app (its URLs follow the sandbox port)."""
        raise NotImplementedError

    def add_company(self, name: str, invoices: int, seed: int, country: str = "GB") -> Any:
        raise NotImplementedError

    def tenant_id(self, company: Any) -> str:
        raise NotImplementedError

    def company_name(self, company: Any) -> str:
        """What duely names the connection after."""
        raise NotImplementedError

    def region(self, company: Any) -> str:
        """Where the company lives, for a ledger with locations ("" otherwise)."""
        return ""

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
        """Refuse this share of the invoice reads, at random (seeded): with 429 where the
        ledger has rate limits, else with 500."""
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

    async def connect_in_duely(self, duely: httpx.AsyncClient, admin: str) -> httpx.Response:
        """A person connecting from duely's Connections page, as far as duely's last answer:
        for an OAuth ledger, the round trip to its consent page and back to the callback."""
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


class AccountsIQUnderTest(LedgerUnderTest):
    name, label, provider = "accountsiq", "AccountsIQ", Provider.ACCOUNTSIQ
    payment_accounts = "*=CURRENT"  # the seeded company's bank account
    zone_of_australia = ""
    tells_country = False
    partner_key = "duely-test-partner-key"

    def __init__(self, duely_url: str) -> None:
        self.sandbox = AccountsIQSandbox()
        self.sandbox.add_partner_key(self.partner_key)
        self._keys: dict[str, str] = {}

    def settings(self) -> dict[str, object]:
        return {"accountsiq_partner_key": self.partner_key}

    def add_company(self, name: str, invoices: int, seed: int, country: str = "GB") -> Any:
        company_id = f"co{seed}"
        self._keys[company_id] = f"{company_id}-user-key-0001"
        return self.sandbox.add_company(
            name,
            invoices,
            seed=seed,
            region="eu2",
            company_id=company_id,
            user_key=self._keys[company_id],
        )

    def tenant_id(self, company: Any) -> str:
        return str(company.company_id)

    def company_name(self, company: Any) -> str:
        return str(company.company_id)  # the service names no company profile

    def region(self, company: Any) -> str:
        return str(company.region)

    async def connect_in_duely(self, duely: httpx.AsyncClient, admin: str) -> httpx.Response:
        """The Connections page's form, with the keys pasted as people paste them."""
        await login(duely, admin)
        page = await duely.get("/connections")
        assert f"Connect to {self.label}" in page.text
        form = await duely.get("/connections/accountsiq")
        (company,) = self.sandbox.store.companies.values()
        if company.user_key(self._keys[company.company_id]).revoked:
            # What a person does after a revoke: Request User Key in AccountsIQ again.
            self._keys[company.company_id] = f"{company.company_id}-user-key-{len(self._keys)}2"
            company.user_keys.append(UserKey(self._keys[company.company_id], "sandbox.user"))
        return await duely.post(
            "/connections/accountsiq/connect",
            data={
                "_csrf_token": csrf_from(form.text),
                "company_id": f" {company.company_id},",
                "user_key": f" {self._keys[company.company_id]} ",
                "location": company.region,
            },
            follow_redirects=False,
        )

    def consent_directly(self, company: Any) -> Any:
        """No consent: the keys are the grant; the first call signs in."""
        return SimpleNamespace(
            access_token="", refresh_token=self._keys[company.company_id], expires_in=0
        )

    def mirrored(self, company: Any) -> dict[str, Facts]:
        """A paid invoice is on no statement, so AccountsIQ tells no due date for it: duely
        keeps its issue date there."""
        facts = {}
        for invoice in company.invoices:
            owed = 0 if invoice.status == "Cancelled" else company.invoice_outstanding(invoice)
            due = invoice.due_date if owed else invoice.invoice_date
            facts[str(invoice.invoice_id)] = Facts(
                invoice.invoice_number, due, company.currency, invoice.gross, owed
            )
        return facts

    def customer_ids(self, company: Any) -> set[str]:
        return {customer.code for customer in company.customers}

    def due_in(self, company: Any, days: int) -> None:
        later = self.sandbox.clock.today() + timedelta(days=days)
        for invoice in company.invoices:
            invoice.due_date = later
            self.sandbox.store.touch(invoice)

    def touch_invoices(self, company: Any, count: int, rng: random.Random) -> set[str]:
        """Due dates pushed out and amounts corrected, as a bookkeeper does."""
        owing = [i for i in company.invoices if company.invoice_outstanding(i) > 0]
        chosen = rng.sample(sorted(owing, key=lambda i: i.invoice_id), count)
        for position, invoice in enumerate(chosen):
            if position % 2:
                invoice.net += 1000
            else:
                invoice.due_date += timedelta(days=rng.randint(3, 21))
            self.sandbox.store.touch(invoice)
        return {str(invoice.invoice_id) for invoice in chosen}

    def storm(self, rate: float) -> None:
        rule = FaultRule(path_contains="#GetInvoicesBy", rate_500=rate)
        self.sandbox.faults.replace([rule], seed=7)

    @property
    def refused(self) -> Counter[str]:
        return Counter()  # AccountsIQ documents no rate limits

    def revoke(self, company: Any) -> None:
        self.sandbox.store.revoke_user_key(company, self._keys[company.company_id])

    def pay_in_full(self, company: Any, external_id: str) -> None:
        invoice = next(i for i in company.invoices if str(i.invoice_id) == external_id)
        self.sandbox.store.mark_paid(company, invoice, company.banks[0].bank_account_code)

    def payments_for(self, company: Any, reference: str) -> list[Any]:
        return [r for r in company.receipts if r.check_reference == reference]

    def hold_payment_answers(self, milliseconds: int) -> None:
        rule = FaultRule(
            path_contains="#SaveSalesReceiptGetBackTransactionID", answer_delay_ms=milliseconds
        )
        self.sandbox.faults.replace([rule])


LEDGERS: dict[str, type[LedgerUnderTest]] = {
    "xero": XeroUnderTest,
    "quickbooks": QuickBooksUnderTest,
    "accountsiq": AccountsIQUnderTest,
}
