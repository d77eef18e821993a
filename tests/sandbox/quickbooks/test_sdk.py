"""Intuit's own clients against the sandbox over real HTTP (a loopback uvicorn server).

intuitlib's AuthClient reads Intuit's discovery document from the URL given as its
`environment` (it takes a URL as well as "sandbox"/"production"), so it is pointed at the
sandbox's /quickbooks/.well-known/openid_configuration: no patching. python-quickbooks builds its
API URLs from the `api_url_v3` attribute (Intuit's production host by default), which an
instance may override; its requests_oauthlib session refuses plain HTTP unless
OAUTHLIB_INSECURE_TRANSPORT is set, which these tests set for themselves. Both SDKs are
synchronous: they run in a thread while the server runs in the test's event loop.
"""

from __future__ import annotations

import asyncio

import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

from duely.sandbox.quickbooks.consent import connect_company
from tests.sandbox.quickbooks.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI


def auth_client(server) -> AuthClient:
    discovery = f"{server.url}/quickbooks/.well-known/openid_configuration"
    return AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, discovery)


async def connected(server, company) -> AuthClient:
    client = await asyncio.to_thread(auth_client, server)
    url = client.get_authorization_url([Scopes.ACCOUNTING])
    callback = await connect_company(url, company.name)
    assert callback["state"] == client.state_token and callback["realmId"] == company.realm_id
    await asyncio.to_thread(client.get_bearer_token, callback["code"], callback["realmId"])
    return client


async def test_intuitlib_connects_refreshes_and_revokes(server, company, quickbooks):
    client = await connected(server, company)
    assert client.expires_in == 3600 and client.x_refresh_token_expires_in == 100 * 86400
    first_refresh = client.refresh_token
    await asyncio.to_thread(client.refresh)
    assert client.refresh_token != first_refresh
    quickbooks.clock.advance(31 * 60)
    with pytest.raises(AuthClientError) as refused:
        await asyncio.to_thread(client.refresh, first_refresh)
    assert refused.value.status_code == 400 and b"invalid_grant" in refused.value.content
    assert await asyncio.to_thread(client.revoke) is True
    assert quickbooks.identity.authenticate(client.access_token) is None


@pytest.fixture
def insecure_transport(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


async def sdk(server, company) -> QuickBooks:
    auth = await connected(server, company)
    qb = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=company.realm_id,
        minorversion=75,
    )
    qb.api_url_v3 = f"{server.url}/quickbooks/v3"
    return qb


async def test_python_quickbooks_reads_and_writes(server, company, quickbooks, insecure_transport):
    qb = await sdk(server, company)
    open_ids = sorted((i.id for i in company.invoices.values() if i.balance > 0), key=int)
    found = await asyncio.to_thread(
        Invoice.where, "Balance > '0'", order_by="Id", max_results=1000, qb=qb
    )
    assert [i.Id for i in found] == open_ids
    stored = company.invoices[found[0].Id]
    assert found[0].DocNumber == stored.doc_number
    assert found[0].Balance == stored.balance / 100 and found[0].TotalAmt == stored.total / 100
    assert found[0].CustomerRef.value == stored.customer_id
    assert found[0].DueDate == stored.due_date.isoformat()
    one = await asyncio.to_thread(Invoice.get, stored.id, qb=qb)
    assert one.SyncToken == str(stored.sync_token) and one.BillEmail.Address == stored.bill_email
    filtered = await asyncio.to_thread(Invoice.filter, DocNumber=stored.doc_number, qb=qb)
    assert [i.Id for i in filtered] == [stored.id]
    customer = await asyncio.to_thread(Customer.get, stored.customer_id, qb=qb)
    person = company.customers[stored.customer_id]
    assert customer.DisplayName == person.display_name
    assert customer.PrimaryEmailAddr.Address == person.email
    assert customer.PrimaryPhone.FreeFormNumber == person.phone

    payment = Payment()
    payment.CustomerRef = Ref()
    payment.CustomerRef.value = stored.customer_id
    payment.TotalAmt = 2.5
    line = PaymentLine()
    line.Amount = 2.5
    linked = LinkedTxn()
    linked.TxnId, linked.TxnType = stored.id, "Invoice"
    line.LinkedTxn.append(linked)
    payment.Line.append(line)
    before = stored.balance
    saved = await asyncio.to_thread(payment.save, qb, "sdk-pay-1")
    assert stored.balance == before - 250 and saved.Id in company.payments
    read = await asyncio.to_thread(Payment.get, saved.Id, qb=qb)
    assert read.TotalAmt == 2.5 and read.Line[0].LinkedTxn[0].TxnId == stored.id
    await asyncio.to_thread(payment.save, qb, "sdk-pay-1")  # the same requestid
    assert stored.balance == before - 250

    payment.Id = None  # a new payment of the whole original balance: more than is due now
    payment.TotalAmt = line.Amount = before / 100
    with pytest.raises(QuickbooksException) as refused:
        await asyncio.to_thread(payment.save, qb)
    assert refused.value.error_code == 6000

    await asyncio.to_thread(read.void, qb)  # operation=update&include=void
    assert stored.balance == before and company.payments[saved.Id].total == 0
    other = await asyncio.to_thread(Invoice.get, found[1].Id, qb=qb)
    await asyncio.to_thread(other.void, qb)  # operation=void
    assert company.invoices[other.Id].balance == 0 and company.invoices[other.Id].voided


async def test_python_quickbooks_batch_and_cdc(server, company, quickbooks, insecure_transport):
    qb = await sdk(server, company)
    quickbooks.clock.advance(2)  # past the seed's newest invoices
    since = quickbooks.clock.now()
    invoices = await asyncio.to_thread(Invoice.where, "Balance > '0'", max_results=3, qb=qb)
    for invoice in invoices:
        invoice.PrivateNote = "batched by the SDK"
    result = await asyncio.to_thread(batch_update, invoices, qb)
    assert not result.faults and len(result.successes) == 3
    assert all(company.invoices[i.Id].private_note == "batched by the SDK" for i in invoices)
    changes = await asyncio.to_thread(change_data_capture, [Invoice], since.isoformat(), qb)
    assert sorted(i.Id for i in changes.Invoice) == sorted(i.Id for i in invoices)
