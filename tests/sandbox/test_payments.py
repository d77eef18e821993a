"""PUT /Payments, GET /Payments, idempotency keys and the expected payment date."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sandbox.conftest import API

EXCEEDS = "Payment amount exceeds the amount outstanding on this document"


def open_invoice(tenant, currency="GBP"):
    return next(
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.amount_paid
        and not i.amount_credited
        and i.currency == currency
    )


def payment(invoice_id: str, amount, reference="ref", code="090") -> dict:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": code},
        "Date": "2026-01-15",
        "Amount": amount,
        "Reference": reference,
    }


async def put_payments(client, auth, *items, key=None, **params):
    headers = {**auth, "Idempotency-Key": key} if key else auth
    return await client.put(
        f"{API}/Payments", json={"Payments": list(items)}, headers=headers, params=params
    )


async def fetch(client, auth, invoice_id):
    return (await client.get(f"{API}/Invoices/{invoice_id}", headers=auth)).json()["Invoices"][0]


async def test_part_then_full_payment(client, auth, tenant):
    invoice = open_invoice(tenant)
    total = invoice.total / 100
    before = await fetch(client, auth, invoice.invoice_id)
    first = await put_payments(client, auth, payment(invoice.invoice_id, 10.5, "part"))
    assert first.status_code == 200, first.text
    recorded = first.json()["Payments"][0]
    assert recorded["Amount"] == 10.5 and recorded["Reference"] == "part"
    assert recorded["Invoice"]["InvoiceID"] == invoice.invoice_id
    part = await fetch(client, auth, invoice.invoice_id)
    assert part["Status"] == "AUTHORISED"
    assert part["AmountPaid"] == 10.5 and part["AmountDue"] == round(total - 10.5, 2)
    assert part["UpdatedDateUTC"] > before["UpdatedDateUTC"]
    rest = round(total - 10.5, 2)
    second = await put_payments(client, auth, payment(invoice.invoice_id, rest, "rest"))
    assert second.status_code == 200, second.text
    paid = await fetch(client, auth, invoice.invoice_id)
    assert paid["Status"] == "PAID" and paid["AmountDue"] == 0
    assert paid["FullyPaidOnDate"] == "/Date(1768435200000+0000)/"  # 2026-01-15
    assert [p["Reference"] for p in paid["Payments"]] == ["part", "rest"]


async def test_amount_above_what_is_due_is_refused_like_xero(client, auth, tenant):
    invoice = open_invoice(tenant)
    response = await put_payments(
        client, auth, payment(invoice.invoice_id, invoice.total / 100 + 0.01)
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Message"] == "A validation exception occurred"
    assert body["Elements"][0]["ValidationErrors"] == [{"Message": EXCEEDS}]
    assert not any(p.invoice_id == invoice.invoice_id for p in tenant.payments.values())


@pytest.mark.parametrize("amount", [0, -5])
async def test_amount_must_be_positive(client, auth, tenant, amount):
    invoice = open_invoice(tenant)
    response = await put_payments(client, auth, payment(invoice.invoice_id, amount))
    assert response.status_code == 400
    assert "greater than zero" in response.json()["Elements"][0]["ValidationErrors"][0]["Message"]


async def test_only_authorised_invoices_and_payment_accounts(client, auth, tenant):
    draft = next(i for i in tenant.invoices.values() if i.status == "DRAFT")
    refused = await put_payments(client, auth, payment(draft.invoice_id, 1))
    assert refused.status_code == 400
    assert "Authorised" in refused.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    invoice = open_invoice(tenant)
    revenue = await put_payments(client, auth, payment(invoice.invoice_id, 1, code="200"))
    assert revenue.status_code == 400
    clearing = await put_payments(client, auth, payment(invoice.invoice_id, 1, code="615"))
    assert clearing.status_code == 200, clearing.text


async def test_a_batch_is_all_or_nothing_unless_summarize_errors_is_false(client, auth, tenant):
    invoice = open_invoice(tenant)
    good, bad = payment(invoice.invoice_id, 1, "good"), payment(invoice.invoice_id, 10**7, "bad")
    refused = await put_payments(client, auth, good, bad)
    assert refused.status_code == 400 and len(refused.json()["Elements"]) == 1
    assert not invoice.payment_ids
    mixed = await put_payments(client, auth, good, bad, summarizeErrors="false")
    assert mixed.status_code == 200
    answers = mixed.json()["Payments"]
    assert answers[0]["Reference"] == "good" and "PaymentID" in answers[0]
    assert answers[1]["HasValidationErrors"] is True and answers[1]["ValidationErrors"]
    assert len(invoice.payment_ids) == 1


async def test_idempotency_key_replays_and_refuses_another_body(client, xero, auth, tenant):
    invoice = open_invoice(tenant)
    body = payment(invoice.invoice_id, 5, "stripe:pi_1")
    first = await put_payments(client, auth, body, key="pi_1:inv")
    again = await put_payments(client, auth, body, key="pi_1:inv")
    assert again.status_code == 200 and again.json() == first.json()
    assert len(invoice.payment_ids) == 1
    other = await put_payments(client, auth, payment(invoice.invoice_id, 6, "x"), key="pi_1:inv")
    assert other.status_code == 400
    too_long = await put_payments(client, auth, body, key="k" * 129)
    assert too_long.status_code == 400
    xero.clock.advance(timedelta(minutes=11).total_seconds())
    forgotten = await put_payments(client, auth, body, key="pi_1:inv")
    assert forgotten.status_code == 200
    assert forgotten.json()["Payments"][0]["PaymentID"] != first.json()["Payments"][0]["PaymentID"]
    assert len(invoice.payment_ids) == 2


async def test_payments_can_be_found_by_reference(client, auth, tenant):
    invoice = open_invoice(tenant)
    await put_payments(client, auth, payment(invoice.invoice_id, 2, "duely:pi_42"))
    response = await client.get(
        f"{API}/Payments", params={"where": 'Reference=="duely:pi_42"'}, headers=auth
    )
    found = response.json()["Payments"]
    assert len(found) == 1 and found[0]["Invoice"]["InvoiceID"] == invoice.invoice_id
    by_invoice = await client.get(
        f"{API}/Payments",
        params={"where": f'Invoice.InvoiceID==Guid("{invoice.invoice_id}")', "page": "1"},
        headers=auth,
    )
    assert [p["Reference"] for p in by_invoice.json()["Payments"]] == ["duely:pi_42"]
    assert by_invoice.json()["pagination"]["itemCount"] == 1


async def test_japanese_yen_has_no_decimals(client, auth, tenant):
    invoice = open_invoice(tenant, "JPY")
    response = await put_payments(client, auth, payment(invoice.invoice_id, 1000, code="093"))
    assert response.status_code == 200, response.text
    assert invoice.amount_paid == 1000
    assert (await fetch(client, auth, invoice.invoice_id))["AmountPaid"] == 1000


async def test_expected_payment_date(client, auth, tenant):
    invoice = open_invoice(tenant)
    body = {"Invoices": [{"InvoiceID": invoice.invoice_id, "ExpectedPaymentDate": "2026-02-20"}]}
    response = await client.post(f"{API}/Invoices/{invoice.invoice_id}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["Invoices"][0]["ExpectedPaymentDate"] == "/Date(1771545600000+0000)/"
    part_paid = next(
        i for i in tenant.invoices.values() if i.status == "AUTHORISED" and i.amount_paid
    )
    body = {"Invoices": [{"InvoiceID": part_paid.invoice_id, "ExpectedPaymentDate": "2026-02-20"}]}
    refused = await client.post(f"{API}/Invoices/{part_paid.invoice_id}", json=body, headers=auth)
    assert refused.status_code == 400
    message = refused.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "payment or credit note allocated" in message
    assert part_paid.expected_payment_date is None
    credited = next(
        i for i in tenant.invoices.values() if i.amount_credited and i.status == "AUTHORISED"
    )
    body = {"Invoices": [{"InvoiceID": credited.invoice_id, "ExpectedPaymentDate": "2026-02-20"}]}
    response = await client.post(f"{API}/Invoices/{credited.invoice_id}", json=body, headers=auth)
    assert response.status_code == 400
