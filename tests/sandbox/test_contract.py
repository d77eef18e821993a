"""Every shape the Xero-shaped API serves, validated against Xero's official OpenAPI specs,
and the requests that produce them too (the same helper the connector's tests use)."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import API
from tests.sandbox.xero_contract import assert_request_matches_spec, assert_response_matches_spec


async def exchange(client, method, path, auth, *, params=None, json=None, extra_headers=None):
    """Send a request, check it and its answer against the spec, return the answer."""
    headers = {**auth, **(extra_headers or {})}
    assert_request_matches_spec(method, path, params, headers, json)
    response = await client.request(method, path, params=params, json=json, headers=headers)
    assert_response_matches_spec(
        method, path, response.status_code, response.json(), query=params, headers=headers
    )
    return response


@pytest.mark.parametrize(
    "params",
    [
        None,
        {"page": "1"},
        {"page": "2", "pageSize": "50", "order": "UpdatedDateUTC DESC"},
        {"page": "1", "summaryOnly": "true"},
        {"Statuses": "AUTHORISED,PAID", "where": 'Type=="ACCREC"'},
    ],
)
async def test_invoice_lists(client, auth, params):
    response = await exchange(client, "GET", f"{API}/Invoices", auth, params=params)
    assert response.status_code == 200 and response.json()["Invoices"]


async def test_invoices_since_a_moment(client, auth):
    headers = {"If-Modified-Since": "2020-01-01T00:00:00Z"}
    response = await exchange(client, "GET", f"{API}/Invoices", auth, extra_headers=headers)
    assert response.json()["Invoices"]


async def test_single_invoices_of_every_kind(client, auth, tenant):
    kinds = {}
    for invoice in tenant.invoices.values():
        kinds.setdefault((invoice.kind, invoice.status, bool(invoice.credit_note_ids)), invoice)
    assert len(kinds) >= 8
    for invoice in kinds.values():
        await exchange(client, "GET", f"{API}/Invoices/{invoice.invoice_id}", auth)


async def test_contacts(client, auth, tenant):
    listing = await exchange(client, "GET", f"{API}/Contacts", auth, params={"page": "1"})
    assert listing.json()["Contacts"]
    await exchange(client, "GET", f"{API}/Contacts", auth, params={"summaryOnly": "true"})
    await exchange(
        client,
        "GET",
        f"{API}/Contacts",
        auth,
        params={"includeArchived": "true", "searchTerm": "a"},
    )
    for contact in list(tenant.contacts.values())[:10]:
        single = await exchange(client, "GET", f"{API}/Contacts/{contact.contact_id}", auth)
        assert single.json()["Contacts"][0]["ContactID"] == contact.contact_id


async def test_organisation_accounts_credit_notes(client, auth):
    await exchange(client, "GET", f"{API}/Organisation", auth)
    accounts = await exchange(client, "GET", f"{API}/Accounts", auth)
    assert any(a["Type"] == "BANK" for a in accounts.json()["Accounts"])
    notes = await exchange(client, "GET", f"{API}/CreditNotes", auth, params={"page": "1"})
    assert notes.json()["CreditNotes"]


async def test_payments_put_and_list_and_refusal(client, auth, tenant):
    invoice = next(
        i for i in tenant.invoices.values() if i.status == "AUTHORISED" and i.currency == "GBP"
    )
    item = {
        "Invoice": {"InvoiceID": invoice.invoice_id},
        "Account": {"Code": "090"},
        "Date": "2026-01-15",
        "Amount": 1.5,
        "Reference": "contract",
    }
    recorded = await exchange(
        client,
        "PUT",
        f"{API}/Payments",
        auth,
        json={"Payments": [item]},
        extra_headers={"Idempotency-Key": "contract-1"},
    )
    assert recorded.status_code == 200
    refused = await exchange(
        client, "PUT", f"{API}/Payments", auth, json={"Payments": [{**item, "Amount": 10**8}]}
    )
    assert refused.status_code == 400
    listed = await exchange(
        client, "GET", f"{API}/Payments", auth, params={"where": 'Reference=="contract"'}
    )
    assert len(listed.json()["Payments"]) == 1


async def test_expected_payment_date_and_its_refusal(client, auth, tenant):
    clean = next(
        i
        for i in tenant.invoices.values()
        if i.status == "AUTHORISED" and not i.amount_paid and not i.amount_credited
    )
    paid_part = next(
        i for i in tenant.invoices.values() if i.status == "AUTHORISED" and i.amount_paid
    )
    for invoice, status in ((clean, 200), (paid_part, 400)):
        body = {
            "Invoices": [{"InvoiceID": invoice.invoice_id, "ExpectedPaymentDate": "2026-03-01"}]
        }
        path = f"{API}/Invoices/{invoice.invoice_id}"
        assert (await exchange(client, "POST", path, auth, json=body)).status_code == status


async def test_connections(client, auth):
    bearer = {"Authorization": auth["Authorization"]}
    response = await exchange(client, "GET", "/xero/connections", bearer)
    assert response.json()[0]["tenantType"] == "ORGANISATION"


def test_the_helpers_catch_what_xero_would_refuse():
    with pytest.raises(AssertionError, match="xero-tenant-id"):
        assert_request_matches_spec("GET", "/api.xro/2.0/Invoices", {"page": "1"}, {})
    with pytest.raises(AssertionError):
        assert_request_matches_spec("GET", "/api.xro/2.0/Nothing", None, {"xero-tenant-id": "t"})
    with pytest.raises(AssertionError, match="If-Modified-Since"):
        assert_request_matches_spec(
            "GET",
            "/api.xro/2.0/Invoices",
            None,
            {"xero-tenant-id": "t", "If-Modified-Since": "yesterday"},
        )
    with pytest.raises(AssertionError, match="OPEN"):
        assert_response_matches_spec(
            "GET",
            "/api.xro/2.0/Invoices",
            200,
            {"Invoices": [{"Status": "OPEN"}]},
            headers={"xero-tenant-id": "t"},
        )
    with pytest.raises(AssertionError):
        assert_request_matches_spec(
            "PUT",
            "/xero/api.xro/2.0/Payments",
            None,
            {"xero-tenant-id": "t"},
            {"Payments": [{"Amount": "12.50"}]},
        )
