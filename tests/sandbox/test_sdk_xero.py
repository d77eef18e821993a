"""The Xero sandbox driven by Xero's own Python SDK (xero-python) over real HTTP.

Every call duely makes to Xero (duely/integrations/ledgers/xero/api.py) is made here with the
SDK, against the sandbox on a loopback socket, and the answer must deserialize into the SDK's
models with the values the sandbox holds. The SDK is synchronous: each call runs in a thread
(`asyncio.to_thread`) so the server, on this event loop, keeps answering.

Also here, each with a test named after what it broke: POST /Payments (the SDK's
create_payment), GET /Payments/{PaymentID} (get_payment), webhook resource URLs that named
port 8100 whatever port `duely sandbox` served on, and routes the sandbox does not emulate
answering in the web framework's shape instead of Xero's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from litestar import Litestar, Request, post
from xero_python.accounting import (
    Account,
    AccountingApi,
    Accounts,
    Contacts,
    Invoice,
    Invoices,
    Organisations,
    Payment,
    Payments,
)
from xero_python.accounting import Invoice as InvoiceReference
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import AccountingBadRequestException, NotFoundException
from xero_python.identity import IdentityApi

from duely.cli import cmd_sandbox
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.money import to_major
from duely.sandbox.xero.sandbox import DEMO_CLIENT_ID
from duely.settings import Settings
from tests.sandbox.conftest import API, CLIENT_ID, CLIENT_SECRET
from tests.sandbox.xero_contract import assert_request_matches_spec, assert_response_matches_spec
from tests.serving import Served, free_port, serve, shut
from tests.waiting import eventually

EXCEEDS = "Payment amount exceeds the amount outstanding on this document"
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"


@dataclass
class Sdk:
    """The SDK's two APIs pointed at the sandbox, and the tenant they call."""

    accounting: AccountingApi
    identity: IdentityApi
    tenant_id: str

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, **kwargs)


def token_for(xero: XeroSandbox, tenant: Ledger, client_id: str = CLIENT_ID) -> dict:
    """A token dict as xero-python keeps one, granted by the sandbox (see conftest's `auth`)."""
    tokens = xero.connect(client_id, [tenant.tenant_id])
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "scope": tokens.scope.split(),
        "expires_in": tokens.expires_in,
        "expires_at": time.time() + tokens.expires_in,
        "token_type": "Bearer",
    }


def sdk_client(token: dict) -> ApiClient:
    configuration = Configuration()
    # Configuration() hands out copies of the first one ever made: set our own token holder.
    configuration.oauth2_token = OAuth2Token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return ApiClient(
        configuration,
        pool_threads=1,
        oauth2_token_getter=lambda: token,
        oauth2_token_saver=token.update,
    )


@pytest_asyncio.fixture
async def sdk(xero: XeroSandbox, tenant: Ledger, server: Served) -> AsyncIterator[Sdk]:
    client = sdk_client(token_for(xero, tenant))
    yield Sdk(
        AccountingApi(client, base_url=f"{server.url}{API}"),
        IdentityApi(client, base_url=f"{server.url}/xero"),
        tenant.tenant_id,
    )
    client.rest_client.pool_manager.clear()


def open_invoice(tenant: Ledger, currency: str = "GBP"):
    return next(
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.amount_paid
        and not i.amount_credited
        and i.currency == currency
    )


def money(minor: int, currency: str) -> Decimal:
    """An amount as the SDK deserializes Xero's money: a Decimal."""
    return Decimal(str(to_major(minor, currency)))


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the divergences ------------------------------------------------------------------------


async def test_create_payment_records_a_single_payment(sdk, tenant):
    """AccountingApi.create_payment (POST /Payments, one Payment as the body) answered 405."""
    invoice = open_invoice(tenant)
    payment = Payment(
        invoice=InvoiceReference(invoice_id=invoice.invoice_id),
        account=Account(code="090"),
        date=date(2026, 1, 15),
        amount=12.5,
        reference="sdk-single",
    )

    answer = await sdk.call(
        sdk.accounting.create_payment, sdk.tenant_id, payment, idempotency_key="single-1"
    )

    assert isinstance(answer, Payments)
    (recorded,) = answer.payments
    stored = tenant.payments[recorded.payment_id]
    assert stored.invoice_id == invoice.invoice_id
    assert stored.amount == 1250 and stored.reference == "sdk-single"
    assert recorded.amount == 12.5 and recorded.reference == "sdk-single"
    assert recorded.date == date(2026, 1, 15)
    assert recorded.invoice.invoice_id == invoice.invoice_id
    assert recorded.account.code == "090"
    assert recorded.status == "AUTHORISED" and recorded.payment_type == "ACCRECPAYMENT"
    assert recorded.has_validation_errors is False
    assert invoice.payment_ids == [recorded.payment_id]

    again = await sdk.call(
        sdk.accounting.create_payment, sdk.tenant_id, payment, idempotency_key="single-1"
    )
    assert again.payments[0].payment_id == recorded.payment_id
    assert invoice.payment_ids == [recorded.payment_id]


async def test_create_payment_refuses_like_xero(sdk, tenant):
    invoice = open_invoice(tenant)
    payment = Payment(
        invoice=InvoiceReference(invoice_id=invoice.invoice_id),
        account=Account(code="090"),
        date=date(2026, 1, 15),
        amount=to_major(invoice.amount_due, invoice.currency) + 1,
        reference="too-much",
    )

    with pytest.raises(AccountingBadRequestException) as refused:
        await sdk.call(sdk.accounting.create_payment, sdk.tenant_id, payment)

    assert refused.value.reason == EXCEEDS
    assert refused.value.error_data["Type"] == "ValidationException"
    (element,) = refused.value.error_data["Elements"]
    assert [e["Message"] for e in element["ValidationErrors"]] == [EXCEEDS]
    assert invoice.payment_ids == []


async def test_get_payment_answers_the_payment(sdk, tenant):
    """AccountingApi.get_payment (GET /Payments/{PaymentID}) got the framework's own 404."""
    payment = next(iter(tenant.payments.values()))
    invoice = tenant.invoices[payment.invoice_id]

    answer = await sdk.call(sdk.accounting.get_payment, sdk.tenant_id, payment.payment_id)

    assert isinstance(answer, Payments)
    (fetched,) = answer.payments
    assert fetched.payment_id == payment.payment_id
    assert fetched.amount == money(payment.amount, payment.currency)
    assert fetched.date == payment.date
    assert fetched.reference == payment.reference
    assert fetched.status == payment.status
    assert fetched.invoice.invoice_id == invoice.invoice_id
    assert fetched.invoice.invoice_number == invoice.number
    assert fetched.account.account_id == payment.account_id
    assert as_utc(fetched.updated_date_utc) == payment.updated.replace(
        microsecond=payment.updated.microsecond // 1000 * 1000
    )


async def test_get_payment_of_an_unknown_id_is_xeros_not_found(sdk, client, auth):
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(NotFoundException):
        await sdk.call(sdk.accounting.get_payment, sdk.tenant_id, unknown)

    response = await client.get(f"{API}/Payments/{unknown}", headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == NOT_FOUND_TEXT


async def test_a_single_payment_post_matches_xeros_spec(client, auth, tenant):
    invoice = open_invoice(tenant)
    path = f"{API}/Payments"
    body = {
        "Invoice": {"InvoiceID": invoice.invoice_id},
        "Account": {"Code": "090"},
        "Date": "2026-01-15",
        "Amount": 3.25,
        "Reference": "contract",
    }
    assert_request_matches_spec("POST", path, None, auth, body)

    response = await client.post(path, json=body, headers=auth)

    assert response.status_code == 200, response.text
    assert_response_matches_spec("POST", path, 200, response.json(), headers=auth)
    assert response.json()["Payments"][0]["Reference"] == "contract"
    refused = await client.post(path, json={**body, "Amount": 1_000_000}, headers=auth)
    assert refused.status_code == 400
    assert_response_matches_spec("POST", path, 400, refused.json(), headers=auth)


async def test_payments_by_id_answer_in_xeros_envelope(client, auth, tenant):
    payment = next(iter(tenant.payments.values()))
    path = f"{API}/Payments/{payment.payment_id}"
    response = await client.get(path, headers=auth)
    assert response.status_code == 200, response.text
    assert_response_matches_spec("GET", path, 200, response.json(), headers=auth)
    assert response.json()["Status"] == "OK"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/PurchaseOrders"),  # a Xero resource the sandbox has not got
        ("GET", "/Invoices/{invoice_id}/Attachments"),  # under a route the sandbox has
        ("GET", "/Invoices/{invoice_id}/Attachments/terms.pdf"),
        ("GET", "/Reports/ProfitAndLoss"),
        ("DELETE", "/Payments"),  # a route the sandbox has, with another method
        ("POST", "/Organisation"),
    ],
)
async def test_unemulated_routes_answer_like_xeros_unknown_resource(
    client, auth, tenant, caplog, method, path
):
    """Litestar answered these with its own JSON ({"status_code": 404, "detail": ...}, or
    a 405), which no Xero client expects; and nothing said the sandbox lacks the route."""
    invoice = open_invoice(tenant)
    url = f"{API}{path.format(invoice_id=invoice.invoice_id)}"
    with caplog.at_level(logging.WARNING):
        response = await client.request(method, url, headers=auth)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == NOT_FOUND_TEXT
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "not emulated" in r.getMessage() and method in r.getMessage() and url in r.getMessage()
        for r in warnings
    ), [r.getMessage() for r in warnings]


async def test_unemulated_routes_still_need_a_token(client):
    response = await client.get(f"{API}/PurchaseOrders")
    assert response.status_code == 401


async def test_the_sdks_unemulated_calls_raise_its_not_found(sdk, tenant):
    invoice = open_invoice(tenant)
    with pytest.raises(NotFoundException):
        await sdk.call(sdk.accounting.get_purchase_orders, sdk.tenant_id)
    with pytest.raises(NotFoundException):
        await sdk.call(sdk.accounting.get_invoice_attachments, sdk.tenant_id, invoice.invoice_id)


@pytest_asyncio.fixture
async def webhook_receiver() -> AsyncIterator[tuple[str, list[dict]]]:
    """duely's webhook endpoint stand-in: its base URL and every event batch it got."""
    batches: list[dict] = []

    @post("/webhooks/xero", status_code=200)
    async def receive(request: Request) -> None:
        batches.append(await request.json())

    served = await serve(Litestar([receive], openapi_config=None))
    yield served.url, batches
    await shut(served)


async def test_webhook_resource_urls_name_the_port_duely_sandbox_serves_on(
    tmp_path, monkeypatch, webhook_receiver
):
    """`duely sandbox` built its XeroSandbox without a base URL, so every webhook event's
    resourceUrl named 127.0.0.1:8100 even with DUELY_SANDBOX_PORT set to another port."""
    web_url, batches = webhook_receiver
    port = free_port()
    launched: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: launched.update(app=app, **options))
    settings = Settings(sandbox_port=port, home=tmp_path, public_url=web_url)

    cmd_sandbox(settings, argparse.Namespace())

    assert launched["port"] == port
    app = launched["app"]
    xero: XeroSandbox = app.state.xero
    served = await serve(app, port=port)
    try:
        tenant = next(iter(xero.store.ledgers.values()))
        token = token_for(xero, tenant, DEMO_CLIENT_ID)["access_token"]
        invoice = open_invoice(tenant)
        xero.store.set_expected_payment_date(tenant.tenant_id, invoice.invoice_id, date(2026, 2, 1))
        await eventually(lambda: batches, "no webhook reached duely", seconds=10, every=0.02)

        (event,) = batches[0]["events"]
        base = f"http://127.0.0.1:{port}/xero"
        assert event["resourceUrl"] == f"{base}/api.xro/2.0/Invoices/{invoice.invoice_id}"
        assert xero.base_url == base
        headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant.tenant_id}
        async with httpx.AsyncClient() as http:
            followed = await http.get(event["resourceUrl"], headers=headers)
        assert followed.status_code == 200
        assert followed.json()["Invoices"][0]["InvoiceID"] == invoice.invoice_id
    finally:
        await shut(served)


# --- every call duely makes, through the SDK --------------------------------------------------


async def test_invoice_pages_since_a_moment(sdk, tenant):
    """duely's sync: where Type=="ACCREC", order UpdatedDateUTC ASC, page, pageSize and
    If-Modified-Since."""
    sales = sorted(
        (i for i in tenant.invoices.values() if i.kind == "ACCREC"),
        key=lambda i: (i.updated, i.invoice_id),
    )
    since = sales[len(sales) // 2].updated.replace(microsecond=0)
    expected = [i for i in sales if i.updated > since]
    assert 10 < len(expected) < len(sales)

    first = await sdk.call(
        sdk.accounting.get_invoices,
        sdk.tenant_id,
        if_modified_since=since,
        where='Type=="ACCREC"',
        order="UpdatedDateUTC ASC",
        page=1,
        page_size=10,
    )

    assert isinstance(first, Invoices)
    assert first.pagination.page == 1 and first.pagination.page_size == 10
    assert first.pagination.item_count == len(expected)
    assert first.pagination.page_count == -(-len(expected) // 10)
    pages = [first]
    for number in range(2, first.pagination.page_count + 1):
        pages.append(
            await sdk.call(
                sdk.accounting.get_invoices,
                sdk.tenant_id,
                if_modified_since=since,
                where='Type=="ACCREC"',
                order="UpdatedDateUTC ASC",
                page=number,
                page_size=10,
            )
        )
    got = [invoice for page in pages for invoice in page.invoices]
    assert {i.invoice_id for i in got} == {i.invoice_id for i in expected}
    stamps = [as_utc(i.updated_date_utc) for i in got]
    assert stamps == sorted(stamps)
    for sdk_invoice in got:
        assert_invoice_is(sdk_invoice, tenant)


def assert_invoice_is(sdk_invoice: Invoice, tenant: Ledger) -> None:
    held = tenant.invoices[sdk_invoice.invoice_id]
    currency = held.currency
    assert sdk_invoice.type == held.kind
    assert sdk_invoice.invoice_number == held.number
    assert sdk_invoice.status == held.status
    assert sdk_invoice.contact.contact_id == held.contact_id
    assert sdk_invoice.date == held.date
    assert sdk_invoice.due_date == held.due_date
    assert sdk_invoice.amount_due == money(held.amount_due, currency)
    assert sdk_invoice.amount_paid == money(held.amount_paid, currency)
    assert sdk_invoice.amount_credited == money(held.amount_credited, currency)
    assert sdk_invoice.total == money(held.total, currency)
    assert sdk_invoice.currency_code.value == currency
    assert sdk_invoice.expected_payment_date == held.expected_payment_date
    assert sdk_invoice.fully_paid_on_date == held.fully_paid_on
    assert [p.payment_id for p in sdk_invoice.payments or []] == held.payment_ids


async def test_invoices_by_id(sdk, tenant):
    """duely's get_invoices: IDs, a comma list."""
    wanted = [i.invoice_id for i in list(tenant.invoices.values())[:5]]

    answer = await sdk.call(sdk.accounting.get_invoices, sdk.tenant_id, i_ds=wanted)

    assert sorted(i.invoice_id for i in answer.invoices) == sorted(wanted)
    for sdk_invoice in answer.invoices:
        assert_invoice_is(sdk_invoice, tenant)


async def test_customer_contacts_since_a_moment_and_by_id(sdk, tenant):
    customers = sorted(
        (c for c in tenant.contacts.values() if c.is_customer), key=lambda c: c.updated
    )
    since = customers[0].updated.replace(microsecond=0) - timedelta(seconds=1)

    listed = await sdk.call(
        sdk.accounting.get_contacts,
        sdk.tenant_id,
        if_modified_since=since,
        where="IsCustomer==true",
        order="UpdatedDateUTC ASC",
        page=1,
        include_archived=True,
        page_size=1000,
    )

    assert isinstance(listed, Contacts)
    assert {c.contact_id for c in listed.contacts} == {c.contact_id for c in customers}
    for contact in listed.contacts:
        held = tenant.contacts[contact.contact_id]
        assert contact.name == held.name
        assert contact.email_address == held.email
        assert contact.contact_status == held.status
        assert contact.is_customer is True
        assert [(p.first_name, p.email_address) for p in contact.contact_persons or []] == [
            (p.first_name, p.email) for p in held.persons
        ]
        numbers = {p.phone_type: p.phone_number for p in contact.phones}
        assert {p.kind: p.number for p in held.phones}.items() <= numbers.items()

    some = [c.contact_id for c in customers[:3]]
    by_id = await sdk.call(sdk.accounting.get_contacts, sdk.tenant_id, i_ds=some)
    assert sorted(c.contact_id for c in by_id.contacts) == sorted(some)


async def test_accounts(sdk, tenant):
    answer = await sdk.call(sdk.accounting.get_accounts, sdk.tenant_id)

    assert isinstance(answer, Accounts)
    assert {a.account_id: a.code for a in answer.accounts} == {
        a.account_id: a.code for a in tenant.accounts.values()
    }
    bank = next(a for a in answer.accounts if a.code == "090")
    assert bank.type.value == "BANK" and bank.status == "ACTIVE"


async def test_organisation(sdk, tenant):
    answer = await sdk.call(sdk.accounting.get_organisations, sdk.tenant_id)

    assert isinstance(answer, Organisations)
    (organisation,) = answer.organisations
    held = tenant.organisation
    assert organisation.organisation_id == held.organisation_id
    assert organisation.name == held.name
    assert organisation.base_currency.value == held.base_currency
    assert organisation.country_code.value == held.country_code
    assert organisation.short_code == held.short_code


async def test_payments_by_reference_then_a_batch_put(sdk, tenant):
    """duely's record_payment: look the reference up, then PUT the batch with
    summarizeErrors=false and an Idempotency-Key; one refusal does not stop the others."""
    found = await sdk.call(
        sdk.accounting.get_payments, sdk.tenant_id, where='Reference=="sdk-batch-1"'
    )
    assert found.payments == []

    invoice = open_invoice(tenant)
    good = Payment(
        invoice=InvoiceReference(invoice_id=invoice.invoice_id),
        account=Account(code="090"),
        date=date(2026, 1, 20),
        amount=5.0,
        reference="sdk-batch-1",
    )
    bad = Payment(
        invoice=InvoiceReference(invoice_id=invoice.invoice_id),
        account=Account(code="090"),
        date=date(2026, 1, 20),
        amount=1_000_000.0,
        reference="sdk-batch-2",
    )

    answer = await sdk.call(
        sdk.accounting.create_payments,
        sdk.tenant_id,
        Payments(payments=[good, bad]),
        summarize_errors=False,
        idempotency_key="batch-1",
    )

    recorded, refused = answer.payments
    assert recorded.has_validation_errors is False
    assert tenant.payments[recorded.payment_id].reference == "sdk-batch-1"
    assert refused.has_validation_errors is True
    assert [e.message for e in refused.validation_errors] == [EXCEEDS]
    assert invoice.payment_ids == [recorded.payment_id]

    found = await sdk.call(
        sdk.accounting.get_payments,
        sdk.tenant_id,
        where='Reference=="sdk-batch-1" OR Reference=="sdk-batch-2"',
    )
    assert [(p.payment_id, p.reference, p.amount) for p in found.payments] == [
        (recorded.payment_id, "sdk-batch-1", 5.0)
    ]


async def test_expected_payment_date_update(sdk, tenant):
    invoice = open_invoice(tenant)

    answer = await sdk.call(
        sdk.accounting.update_invoice,
        sdk.tenant_id,
        invoice.invoice_id,
        Invoices(
            invoices=[
                Invoice(invoice_id=invoice.invoice_id, expected_payment_date=date(2026, 3, 31))
            ]
        ),
    )

    assert invoice.expected_payment_date == date(2026, 3, 31)
    (updated,) = answer.invoices
    assert updated.invoice_id == invoice.invoice_id
    assert updated.expected_payment_date == date(2026, 3, 31)


async def test_invoice_pdf(sdk, tenant):
    invoice = open_invoice(tenant)

    path = await sdk.call(sdk.accounting.get_invoice_as_pdf, sdk.tenant_id, invoice.invoice_id)

    with open(path, "rb") as pdf:  # noqa: ASYNC230 - a small local file
        content = pdf.read()
    assert content.startswith(b"%PDF")
    assert invoice.number.encode() in content


async def test_connections(sdk, tenant):
    connections = await sdk.call(sdk.identity.get_connections)

    (connection,) = connections
    assert str(connection.tenant_id) == tenant.tenant_id
    assert connection.tenant_type == "ORGANISATION"
    assert connection.tenant_name == tenant.organisation.name
    assert isinstance(connection.created_date_utc, datetime)
