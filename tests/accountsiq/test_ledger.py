"""duely's AccountsIQ client against the sandbox, over SOAP: signing in where the company
lives (and saying where it lives when asked elsewhere), a whole company mirrored with what
each invoice still owes, sessions renewed when they run out, and card payments written once
as receipts allocated to their invoices."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from duely.integrations.ledgers.accountsiq.service import Credentials, NotSignedIn
from duely.integrations.ledgers.base import PaymentToRecord, record_once
from duely.models import InvoiceStatus
from duely.sandbox.accountsiq.store import ReceiptFields
from tests.accountsiq.conftest import COMPANY_ID, LOCATION, USER_KEY


async def read_all(changes) -> list:
    items = []
    async for page in changes:
        items += page.items
    return items


def outstanding(company) -> dict[str, int]:
    return {
        str(i.invoice_id): company.invoice_outstanding(i)
        for i in company.invoices
        if i.status != "Cancelled"
    }


async def test_signing_in_where_the_company_lives_and_finding_it_when_asked_elsewhere(
    connected,
):
    service = connected.service
    session = await service.login(Credentials(COMPANY_ID, USER_KEY, LOCATION))
    assert session.access_token and session.refresh_token == USER_KEY
    with pytest.raises(NotSignedIn, match="Europe 1"):
        await service.login(Credentials(COMPANY_ID, USER_KEY, "eu1"))
    assert await service.locate(Credentials(COMPANY_ID, USER_KEY, "uk1")) == LOCATION
    assert await service.locate(Credentials(COMPANY_ID, "not-the-key-0000", "uk1")) is None


def test_pasted_credentials_lose_their_stray_spaces_and_commas():
    pasted = Credentials.pasted(" readsltd, ", " reads-ltd-user-\nkey-0001 ,", " EU2 ")
    assert pasted == Credentials(COMPANY_ID, USER_KEY, LOCATION)
    assert pasted.problem() == ""
    assert "shape" in Credentials.pasted("x", "short", "eu1").problem()
    assert "location" in Credentials.pasted("x", USER_KEY, "mars").problem()


async def test_a_company_is_mirrored_with_what_each_invoice_still_owes(connected):
    company, ledger = connected.company, connected.ledger
    invoices = await read_all(ledger.changed_invoices(None))
    owed = outstanding(company)
    assert len(invoices) == len(company.invoices) > 1000  # more than two pages
    by_id = {i.external_id: i for i in invoices}
    assert {i: by_id[i].amount_due for i in owed} == owed
    open_ones = [i for i in invoices if i.status == InvoiceStatus.OPEN]
    assert open_ones and all(i.amount_due > 0 for i in open_ones)
    due = {str(i.invoice_id): i.due_date for i in company.invoices}
    assert all(i.due_date == due[i.external_id] for i in open_ones)
    contacts = await read_all(ledger.changed_contacts(None))
    assert {c.external_id for c in contacts} == {c.code for c in company.customers}
    assert {i.contact_external_id for i in invoices} <= {c.external_id for c in contacts}


async def test_a_session_that_ran_out_is_renewed_once_and_the_call_goes_on(connected):
    sandbox, ledger, keeper = connected.sandbox, connected.ledger, connected.keeper
    sandbox.store.expire_sessions(COMPANY_ID)  # AccountsIQ ended it early (HasExpired)
    (first,) = await ledger.get_invoices([str(connected.company.invoices[0].invoice_id)])
    assert first.external_id == str(connected.company.invoices[0].invoice_id)
    assert keeper.refreshes == 1
    sandbox.clock.advance(timedelta(minutes=21).total_seconds())  # and once it has run out
    await ledger.get_invoices([first.external_id])
    assert keeper.refreshes == 2


async def test_a_card_payment_becomes_one_allocated_receipt(connected):
    company, ledger = connected.company, connected.ledger
    invoice = next(i for i in company.invoices if company.invoice_outstanding(i) > 1_000)
    before = company.invoice_outstanding(invoice)
    customer = next(c for c in company.customers if c.account_id == invoice.account_id)
    payment = PaymentToRecord(
        invoice_external_id=str(invoice.invoice_id),
        amount=1_000,
        currency=customer.currency,
        paid_on=date.today(),
        reference=f"duely:pi_aiq_test:{invoice.invoice_id}",
        idempotency_key="key",
        account_code=company.banks[0].bank_account_code,
        contact_external_id=customer.code,
    )

    written = await record_once(ledger, payment)
    again = await record_once(ledger, payment)

    assert (again.external_id, again.already_recorded) == (written.external_id, True)
    assert company.invoice_outstanding(invoice) == before - 1_000
    receipts = [r for r in company.receipts if r.check_reference == payment.reference]
    assert len(receipts) == 1 and str(receipts[0].transaction_id) == written.external_id
    (after,) = await ledger.get_invoices([str(invoice.invoice_id)])
    assert after.amount_due == before - 1_000


async def test_a_receipt_saved_but_never_allocated_is_finished_not_saved_again(connected):
    """The writer died between its two calls (receipt saved, not yet allocated): the lookup
    does not count it as written, and the next write allocates it instead of saving another."""
    company, ledger = connected.company, connected.ledger
    invoice = next(i for i in company.invoices if company.invoice_outstanding(i) > 2_000)
    customer = next(c for c in company.customers if c.account_id == invoice.account_id)
    before = company.invoice_outstanding(invoice)
    reference = f"duely:pi_aiq_half:{invoice.invoice_id}"
    half_done = connected.sandbox.store.save_receipt(
        company,
        ReceiptFields(
            customer_code=customer.code,
            check_reference=reference,
            payment_amount=2_000,
            bank_account_code=company.banks[0].bank_account_code,
            payment_date=date.today(),
        ),
    )
    payment = PaymentToRecord(
        str(invoice.invoice_id),
        2_000,
        customer.currency,
        date.today(),
        reference,
        "key",
        company.banks[0].bank_account_code,
        customer.code,
    )

    assert await ledger.find_payments([reference]) == {}
    written = await record_once(ledger, payment)

    assert written.external_id == str(half_done.transaction_id)
    assert [r for r in company.receipts if r.check_reference == reference] == [half_done]
    assert company.invoice_outstanding(invoice) == before - 2_000
    assert await ledger.find_payments([reference]) == {reference: written.external_id}
