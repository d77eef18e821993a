"""GET /Invoices: paging, If-Modified-Since, filters, formats; single invoices and PDFs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from duely.sandbox.xero.dates import parse_ms_date
from tests.sandbox.conftest import API, CLIENT_ID

MS_DATE = re.compile(r"^/Date\(\d+\+0000\)/$")


@pytest.fixture
def big(xero):
    """A second organisation, big enough for pages of 1000."""
    return xero.add_tenant("Big Wholesale Ltd", 1200, seed=5)


@pytest.fixture
def big_auth(xero, big):
    tokens = xero.connect(CLIENT_ID, [big.tenant_id])
    return {"Authorization": f"Bearer {tokens.access_token}", "xero-tenant-id": big.tenant_id}


async def test_pages_of_up_to_1000_and_larger_sizes_are_clamped(client, big_auth):
    first = (await client.get(f"{API}/Invoices?page=1&pageSize=1000", headers=big_auth)).json()
    assert first["pagination"] == {"page": 1, "pageSize": 1000, "pageCount": 2, "itemCount": 1200}
    assert len(first["Invoices"]) == 1000
    second = (await client.get(f"{API}/Invoices?page=2&pageSize=1000", headers=big_auth)).json()
    assert len(second["Invoices"]) == 200
    ids = {i["InvoiceID"] for i in first["Invoices"]} | {i["InvoiceID"] for i in second["Invoices"]}
    assert len(ids) == 1200
    clamped = (await client.get(f"{API}/Invoices?page=1&pageSize=1001", headers=big_auth)).json()
    assert clamped["pagination"]["pageSize"] == 1000 and len(clamped["Invoices"]) == 1000
    default = (await client.get(f"{API}/Invoices?page=3", headers=big_auth)).json()
    assert default["pagination"] == {"page": 3, "pageSize": 100, "pageCount": 12, "itemCount": 1200}
    assert len(default["Invoices"]) == 100
    past_end = (await client.get(f"{API}/Invoices?page=13", headers=big_auth)).json()
    assert past_end["Invoices"] == []
    zero = await client.get(f"{API}/Invoices?page=1&pageSize=0", headers=big_auth)
    assert zero.status_code == 400


async def test_paged_answers_carry_line_items_and_unpaged_answers_everything(client, auth, tenant):
    paged = (await client.get(f"{API}/Invoices?page=1", headers=auth)).json()
    assert all(len(i["LineItems"]) == 1 for i in paged["Invoices"])
    everything = (await client.get(f"{API}/Invoices", headers=auth)).json()
    assert "pagination" not in everything
    assert len(everything["Invoices"]) == len(tenant.invoices)
    assert all(i["LineItems"] == [] for i in everything["Invoices"])
    summary = (await client.get(f"{API}/Invoices?page=1&summaryOnly=true", headers=auth)).json()
    assert all("Payments" not in i and "LineItems" not in i for i in summary["Invoices"])


async def test_envelope_dates_and_money_formats(client, auth, tenant):
    body = (await client.get(f"{API}/Invoices?page=1", headers=auth)).json()
    assert body["Status"] == "OK" and body["ProviderName"] == "duely tests"
    assert re.match(r"^/Date\(\d+\)/$", body["DateTimeUTC"])
    invoice = body["Invoices"][0]
    record = tenant.invoices[invoice["InvoiceID"]]
    assert MS_DATE.match(invoice["Date"]) and MS_DATE.match(invoice["UpdatedDateUTC"])
    assert parse_ms_date(invoice["DueDate"]).date() == record.due_date
    assert invoice["DueDateString"] == f"{record.due_date.isoformat()}T00:00:00"
    assert invoice["Total"] == record.total / 100
    assert isinstance(invoice["AmountDue"], float)


async def test_if_modified_since_returns_exactly_the_changed_invoices(client, xero, auth, tenant):
    xero.clock.advance(5)
    since = xero.clock.now()
    xero.clock.advance(1)
    touched = await client.post(
        f"/xero/_admin/tenants/{tenant.tenant_id}/invoices/touch", json={"count": 7, "seed": 3}
    )
    changed = set(touched.json()["invoice_ids"])
    assert len(changed) == 7
    for header in (
        since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        since.strftime("%Y-%m-%dT%H:%M:%S"),
        since.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    ):
        response = await client.get(
            f"{API}/Invoices", headers={**auth, "If-Modified-Since": header}
        )
        assert {i["InvoiceID"] for i in response.json()["Invoices"]} == changed, header
    later = xero.clock.now() + timedelta(seconds=1)
    nothing = await client.get(
        f"{API}/Invoices", headers={**auth, "If-Modified-Since": later.isoformat()}
    )
    assert nothing.json()["Invoices"] == []


async def test_status_id_contact_and_number_filters(client, auth, tenant):
    invoices = list(tenant.invoices.values())
    drafts = {i.invoice_id for i in invoices if i.status in ("DRAFT", "VOIDED")}
    response = await client.get(f"{API}/Invoices?Statuses=DRAFT,VOIDED", headers=auth)
    assert {i["InvoiceID"] for i in response.json()["Invoices"]} == drafts
    chosen = [invoices[3].invoice_id, invoices[40].invoice_id]
    by_id = await client.get(f"{API}/Invoices", params={"IDs": ",".join(chosen)}, headers=auth)
    assert sorted(i["InvoiceID"] for i in by_id.json()["Invoices"]) == sorted(chosen)
    contact_id = invoices[10].contact_id
    by_contact = await client.get(f"{API}/Invoices?ContactIDs={contact_id}", headers=auth)
    expected = {i.invoice_id for i in invoices if i.contact_id == contact_id}
    assert {i["InvoiceID"] for i in by_contact.json()["Invoices"]} == expected
    numbers = await client.get(f"{API}/Invoices?InvoiceNumbers=INV-0002,INV-0005", headers=auth)
    assert sorted(i["InvoiceNumber"] for i in numbers.json()["Invoices"]) == [
        "INV-0002",
        "INV-0005",
    ]


async def test_where_filters_and_order(client, auth, tenant):
    where = (
        'Type=="ACCREC" AND (Status=="AUTHORISED" OR Status=="PAID") AND AmountDue>100 '
        'AND CurrencyCode=="GBP"'
    )
    response = await client.get(
        f"{API}/Invoices", params={"where": where, "order": "DueDate DESC"}, headers=auth
    )
    found = response.json()["Invoices"]
    expected = [
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC"
        and i.status in ("AUTHORISED", "PAID")
        and i.amount_due > 10000
        and i.currency == "GBP"
    ]
    assert expected and {i["InvoiceID"] for i in found} == {i.invoice_id for i in expected}
    due = [parse_ms_date(i["DueDate"]) for i in found]
    assert due == sorted(due, reverse=True)
    contact_id = next(iter(tenant.invoices.values())).contact_id
    by_guid = await client.get(
        f"{API}/Invoices",
        params={"where": f'Contact.ContactID==Guid("{contact_id}")'},
        headers=auth,
    )
    assert {i["Contact"]["ContactID"] for i in by_guid.json()["Invoices"]} == {contact_id}
    cutoff = await client.get(
        f"{API}/Invoices", params={"where": "DueDate<DateTime(2000,01,31)"}, headers=auth
    )
    assert cutoff.json()["Invoices"] == []
    bills = await client.get(f"{API}/Invoices", params={"where": 'Type=="ACCPAY"'}, headers=auth)
    assert bills.json()["Invoices"] and all(i["Type"] == "ACCPAY" for i in bills.json()["Invoices"])


@pytest.mark.parametrize(
    "where",
    ['Status=="A" XOR Type=="B"', "Nope==1", 'Status>"A"', "Status==", "System.IO.File==1"],
)
async def test_unsupported_where_is_a_400_query_parse_exception(client, auth, where):
    response = await client.get(f"{API}/Invoices", params={"where": where}, headers=auth)
    assert response.status_code == 400
    assert response.json()["Type"] == "QueryParseException"


async def test_single_invoice_by_id_or_number_and_its_pdf(client, auth, tenant):
    record = next(i for i in tenant.invoices.values() if i.payment_ids)
    by_id = (await client.get(f"{API}/Invoices/{record.invoice_id}", headers=auth)).json()
    invoice = by_id["Invoices"][0]
    assert invoice["InvoiceNumber"] == record.number
    assert len(invoice["Payments"]) == len(record.payment_ids)
    assert invoice["Contact"]["ContactPersons"] is not None and "Phones" in invoice["Contact"]
    by_number = (await client.get(f"{API}/Invoices/{record.number}", headers=auth)).json()
    assert by_number["Invoices"][0]["InvoiceID"] == record.invoice_id
    pdf = await client.get(
        f"{API}/Invoices/{record.invoice_id}", headers={**auth, "Accept": "application/pdf"}
    )
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert record.number.encode() in pdf.content
    xref = int(pdf.content.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf.content[xref:].startswith(b"xref")
    missing = await client.get(f"{API}/Invoices/00000000-0000-0000-0000-000000000000", headers=auth)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/plain")
