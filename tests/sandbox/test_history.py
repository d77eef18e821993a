"""History and notes on invoices and contacts, the online invoice and its page, and the
settings lists (currencies, branding themes, contact groups): checked against Xero's spec,
through the admin API, and read by Xero's own SDK over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from xero_python.accounting import HistoryRecord, HistoryRecords
from xero_python.exceptions import BadRequestException

from duely.sandbox.xero.ledger import Ledger
from tests.sandbox.conftest import API
from tests.sandbox.sdk_helpers import sdk  # noqa: F401 - a fixture
from tests.sandbox.test_contract import exchange
from tests.sandbox.xero_contract import assert_request_matches_spec


def admin(tenant: Ledger) -> str:
    return f"/xero/_admin/tenants/{tenant.tenant_id}"


def invoice_of(tenant: Ledger, status: str, *, paid: bool = False):
    return next(
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == status and bool(i.payment_ids) == paid
    )


# --- history and notes ------------------------------------------------------------------------


async def test_a_note_joins_the_invoice_history(client, auth, tenant, xero):
    invoice = invoice_of(tenant, "PAID", paid=True)
    path = f"{API}/Invoices/{invoice.invoice_id}/History"
    before = await exchange(client, "GET", path, auth)
    system = before.json()["HistoryRecords"]
    assert [r["Changes"] for r in system][-2:] == ["Approved", "Created"]  # newest first
    assert any(r["Changes"] == "Paid" for r in system)
    assert all(r["User"] == "System Generated" for r in system)
    assert system[-1]["Details"].startswith(f"{invoice.number} to ")

    note = {"HistoryRecords": [{"Details": "Promised to pay on Friday"}]}
    added = await exchange(client, "PUT", path, auth, json=note)

    made = added.json()["HistoryRecords"][0]
    assert made["Details"] == "Promised to pay on Friday" and made["ValidationErrors"] == []
    now = xero.clock.now()
    assert made["DateUTCString"] == now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    after = (await exchange(client, "GET", path, auth)).json()["HistoryRecords"]
    assert len(after) == len(system) + 1
    newest = after[0]
    assert newest["Changes"] == "Note" and newest["Details"] == "Promised to pay on Friday"
    assert newest["User"] == "System Generated"
    assert (
        newest["DateUTC"]
        == f"/Date({int(tenant.history[invoice.invoice_id][0].when.timestamp() * 1000)}+0000)/"
    )
    by_number = await client.get(f"{API}/Invoices/{invoice.number}/History", headers=auth)
    assert by_number.json()["HistoryRecords"] == after
    assert invoice.updated < tenant.history[invoice.invoice_id][0].when  # not an edit


async def test_notes_are_refused_when_empty_and_kept_per_record(client, auth, tenant):
    invoice = invoice_of(tenant, "AUTHORISED")
    path = f"{API}/Invoices/{invoice.invoice_id}/History"
    empty = await exchange(client, "PUT", path, auth, json={"HistoryRecords": [{"Details": " "}]})
    assert empty.status_code == 400
    assert empty.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "The Details field is required"}
    ]
    too_long = {"HistoryRecords": [{"Details": "x" * 251}]}
    refused = await exchange(client, "PUT", path, auth, json=too_long)
    assert refused.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "The Details field must be 250 characters or fewer"}
    ]
    assert invoice.invoice_id not in tenant.history
    longest = {"HistoryRecords": [{"Details": "x" * 250}]}
    assert (await exchange(client, "PUT", path, auth, json=longest)).status_code == 200
    tenant.history.pop(invoice.invoice_id)
    missing = await client.get(f"{API}/Invoices/INV-9999/History", headers=auth)
    assert missing.status_code == 404
    two = {"HistoryRecords": [{"Details": "first"}, {"Details": "second"}]}
    await exchange(client, "PUT", path, auth, json=two)
    notes = await client.get(f"{admin(tenant)}/invoices/{invoice.invoice_id}/notes")
    assert [(n["details"], n["changes"], n["user"]) for n in notes.json()] == [
        ("first", "Note", "System Generated"),
        ("second", "Note", "System Generated"),
    ]
    other = invoice_of(tenant, "PAID", paid=True)
    assert (await client.get(f"{admin(tenant)}/invoices/{other.invoice_id}/notes")).json() == []


async def test_contact_history_and_admin_notes(client, auth, tenant):
    contact = next(iter(tenant.contacts.values()))
    path = f"{API}/Contacts/{contact.contact_id}/History"
    assert (await exchange(client, "GET", path, auth)).json()["HistoryRecords"] == []
    await exchange(client, "PUT", path, auth, json={"HistoryRecords": [{"Details": "Called"}]})
    written = await client.post(
        f"{admin(tenant)}/contacts/{contact.contact_id}/notes",
        json={"details": "Asked for a statement", "user": "Jo Bloggs"},
    )
    assert written.status_code == 201 and written.json()["user"] == "Jo Bloggs"
    records = (await exchange(client, "GET", path, auth)).json()["HistoryRecords"]
    assert [(r["Details"], r["User"]) for r in records] == [
        ("Asked for a statement", "Jo Bloggs"),
        ("Called", "System Generated"),
    ]
    refused = await client.post(
        f"{admin(tenant)}/contacts/{contact.contact_id}/notes", json={"details": ""}
    )
    assert refused.status_code == 400
    unknown = await client.get(f"{admin(tenant)}/invoices/{contact.contact_id}/notes")
    assert unknown.status_code == 404


async def test_the_sdk_writes_and_reads_history(sdk, tenant):  # noqa: F811
    invoice = invoice_of(tenant, "AUTHORISED")
    records = HistoryRecords(history_records=[HistoryRecord(details="Reminder 1 sent by duely")])
    made = await sdk.call(sdk.accounting.create_invoice_history, invoice.invoice_id, records)
    assert made.history_records[0].details == "Reminder 1 sent by duely"
    assert isinstance(made.history_records[0].date_utc, datetime)
    read = await sdk.call(sdk.accounting.get_invoice_history, invoice.invoice_id)
    newest = read.history_records[0]
    assert (newest.changes, newest.user) == ("Note", "System Generated")
    assert newest.details == "Reminder 1 sent by duely"
    assert newest.date_utc.replace(tzinfo=UTC) == tenant.history[invoice.invoice_id][
        0
    ].when.replace(microsecond=newest.date_utc.microsecond)
    assert [r.changes for r in read.history_records][-2:] == ["Approved", "Created"]
    contact = next(iter(tenant.contacts.values()))
    await sdk.call(
        sdk.accounting.create_contact_history,
        contact.contact_id,
        HistoryRecords(history_records=[HistoryRecord(details="Disputed INV-0001")]),
    )
    contact_history = await sdk.call(sdk.accounting.get_contact_history, contact.contact_id)
    assert [r.details for r in contact_history.history_records] == ["Disputed INV-0001"]


# --- the online invoice -----------------------------------------------------------------------


async def test_online_invoice_url_serves_the_invoice_page(client, auth, tenant, xero, server):
    invoice = invoice_of(tenant, "AUTHORISED")
    path = f"{API}/Invoices/{invoice.invoice_id}/OnlineInvoice"
    answer = await exchange(client, "GET", path, auth)
    url = answer.json()["OnlineInvoices"][0]["OnlineInvoiceUrl"]
    assert url.startswith(f"{xero.base_url}/online-invoice/")
    assert url.startswith("http://127.0.0.1:")
    page_path = url[len(xero.base_url) :]
    async with httpx.AsyncClient() as browser:  # no token, no tenant: a customer's browser
        page = await browser.get(f"{server.url}/xero{page_path}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert invoice.number in page.text and tenant.organisation.name in page.text
    assert f"{invoice.amount_due / 100:,.2f}" in page.text
    again = await client.get(path, headers=auth)
    assert again.json()["OnlineInvoices"][0]["OnlineInvoiceUrl"] == url  # stable
    unknown = await client.get("/xero/online-invoice/not-a-token")
    assert unknown.status_code == 404


async def test_no_online_invoice_for_drafts_or_bills(client, auth, tenant):
    for invoice in (
        invoice_of(tenant, "DRAFT"),
        next(i for i in tenant.invoices.values() if i.kind == "ACCPAY"),
    ):
        path = f"{API}/Invoices/{invoice.invoice_id}/OnlineInvoice"
        assert_request_matches_spec("GET", path, None, auth)
        refused = await client.get(path, headers=auth)  # the spec declares no 400 here
        assert refused.status_code == 400
        body = refused.json()
        assert body["Type"] == "ValidationException"
        assert body["Elements"][0]["InvoiceID"] == invoice.invoice_id


async def test_the_sdk_gets_an_online_invoice(sdk, tenant, xero):  # noqa: F811
    invoice = invoice_of(tenant, "PAID", paid=True)
    online = await sdk.call(sdk.accounting.get_online_invoice, invoice.invoice_id)
    assert online.online_invoices[0].online_invoice_url.startswith(xero.base_url)
    draft = invoice_of(tenant, "DRAFT")
    try:
        await sdk.call(sdk.accounting.get_online_invoice, draft.invoice_id)
    except BadRequestException as error:
        assert "draft" in error.reason
    else:
        raise AssertionError("a draft invoice had an online invoice")


# --- currencies, branding themes, contact groups ----------------------------------------------


async def test_settings_lists_match_the_spec(client, auth, tenant):
    currencies = await exchange(client, "GET", f"{API}/Currencies", auth)
    codes = [c["Code"] for c in currencies.json()["Currencies"]]
    assert codes[0] == "GBP" and {"EUR", "USD", "JPY"} <= set(codes)
    assert currencies.json()["Currencies"][0]["Description"] == "British Pound"
    only = await exchange(client, "GET", f"{API}/Currencies", auth, params={"where": 'Code=="EUR"'})
    assert only.json()["Currencies"] == [{"Code": "EUR", "Description": "Euro"}]
    themes = await exchange(client, "GET", f"{API}/BrandingThemes", auth)
    assert [t["Name"] for t in themes.json()["BrandingThemes"]] == ["Standard", "Special projects"]
    again = await client.get(f"{API}/BrandingThemes", headers=auth)
    assert again.json()["BrandingThemes"] == themes.json()["BrandingThemes"]

    groups = await exchange(client, "GET", f"{API}/ContactGroups", auth)
    listed = groups.json()["ContactGroups"]
    assert [g["Name"] for g in listed] == ["Key accounts", "Slow payers"]
    assert all(g["Contacts"] == [] and g["Status"] == "ACTIVE" for g in listed)
    for group in tenant.contact_groups.values():
        one = await exchange(client, "GET", f"{API}/ContactGroups/{group.group_id}", auth)
        contacts = one.json()["ContactGroups"][0]["Contacts"]
        assert [c["ContactID"] for c in contacts] == group.contact_ids
        assert [c["Name"] for c in contacts] == [tenant.contacts[c].name for c in group.contact_ids]
    named = await exchange(
        client, "GET", f"{API}/ContactGroups", auth, params={"where": 'Name=="Slow payers"'}
    )
    assert [g["Name"] for g in named.json()["ContactGroups"]] == ["Slow payers"]


async def test_admin_contact_groups_and_contacts(client, auth, tenant):
    member = next(iter(tenant.contacts.values()))
    group = await client.post(
        f"{admin(tenant)}/contact-groups",
        json={"Name": "Disputes", "ContactIDs": [member.contact_id]},
    )
    assert group.status_code == 201
    group_id = group.json()["ContactGroupID"]
    joined = await client.post(
        f"{admin(tenant)}/contacts",
        json={
            "Name": "Newcomer Ltd",
            "EmailAddress": "ap@example.com",
            "ContactGroupIDs": [group_id],
        },
    )
    assert joined.status_code == 201
    one = (await client.get(f"{API}/ContactGroups/{group_id}", headers=auth)).json()
    assert [c["Name"] for c in one["ContactGroups"][0]["Contacts"]] == [member.name, "Newcomer Ltd"]
    twice = await client.post(f"{admin(tenant)}/contacts", json={"Name": "Newcomer Ltd"})
    assert twice.status_code == 400


async def test_the_sdk_reads_the_settings_lists(sdk, tenant):  # noqa: F811
    currencies = await sdk.call(sdk.accounting.get_currencies)
    assert currencies.currencies[0].code.value == "GBP"
    assert currencies.currencies[0].description == "British Pound"
    themes = await sdk.call(sdk.accounting.get_branding_themes)
    assert [t.name for t in themes.branding_themes] == ["Standard", "Special projects"]
    assert themes.branding_themes[0].sort_order == 0
    assert themes.branding_themes[0].created_date_utc.year == tenant.organisation.created.year
    groups = await sdk.call(sdk.accounting.get_contact_groups)
    assert [g.name for g in groups.contact_groups] == ["Key accounts", "Slow payers"]
    group = next(iter(tenant.contact_groups.values()))
    one = await sdk.call(sdk.accounting.get_contact_group, group.group_id)
    assert [str(c.contact_id) for c in one.contact_groups[0].contacts] == group.contact_ids
    assert one.contact_groups[0].status == "ACTIVE"
