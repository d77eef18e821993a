"""Credit notes, overpayments and prepayments, and allocating them to invoices: the answers
checked against Xero's spec, the bookkeeping, Xero's refusals, the admin API, the seed,
webhook events, and Xero's own SDK reading it all over HTTP."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
from xero_python.accounting import Allocation, Allocations, CreditNotes, Overpayments, Prepayments
from xero_python.accounting import Invoice as InvoiceReference
from xero_python.exceptions import BadRequestException

from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.money import to_major
from duely.sandbox.xero.store import CREDIT_NOTE, AllocationRequest, Change
from tests.sandbox.conftest import API, CLIENT_ID
from tests.sandbox.sdk_helpers import money, sdk  # noqa: F401 - a fixture
from tests.sandbox.test_contract import exchange
from tests.sandbox.test_webhooks import KEY, receiver  # noqa: F401 - a fixture
from tests.sandbox.xero_contract import webhook_event_schema

GREATER = "Credit Note cannot be allocated as amount is greater than amount outstanding"
PAID_OFF = "The invoice you are trying to allocate to has already been paid off"


def admin(tenant: Ledger) -> str:
    return f"/xero/_admin/tenants/{tenant.tenant_id}"


def open_invoices(tenant: Ledger, currency: str = "GBP") -> list:
    return [
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC"
        and i.status == "AUTHORISED"
        and not i.amount_paid
        and not i.amount_credited
        and i.currency == currency
    ]


async def new_credit_note(client, tenant, invoice, amount) -> dict:
    response = await client.post(
        f"{admin(tenant)}/credit-notes",
        json={"contact_id": invoice.contact_id, "amount": amount, "reference": "Returned"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def allocation(invoice_id: str, amount, day: str = "2026-11-20") -> dict:
    return {"Allocations": [{"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": day}]}


async def invoice_json(client, auth, invoice_id: str) -> dict:
    response = await exchange(client, "GET", f"{API}/Invoices/{invoice_id}", auth)
    return response.json()["Invoices"][0]


# --- reading ----------------------------------------------------------------------------------


async def test_credit_note_lists_and_one_match_the_spec(client, auth, tenant):
    paged = await exchange(client, "GET", f"{API}/CreditNotes", auth, params={"page": "1"})
    notes = paged.json()["CreditNotes"]
    assert paged.json()["pagination"]["itemCount"] == len(tenant.credit_notes) == len(notes)
    where = {"where": 'Status=="AUTHORISED"', "order": "CreditNoteNumber DESC"}
    open_notes = (await exchange(client, "GET", f"{API}/CreditNotes", auth, params=where)).json()
    numbers = [n["CreditNoteNumber"] for n in open_notes["CreditNotes"]]
    assert numbers == sorted(
        (n.number for n in tenant.credit_notes.values() if n.status == "AUTHORISED"), reverse=True
    )
    assert all(n["RemainingCredit"] > 0 for n in open_notes["CreditNotes"])
    later = {"If-Modified-Since": "2100-01-01T00:00:00Z"}
    none = await exchange(client, "GET", f"{API}/CreditNotes", auth, extra_headers=later)
    assert none.json()["CreditNotes"] == []
    for note in tenant.credit_notes.values():
        one = await exchange(client, "GET", f"{API}/CreditNotes/{note.credit_note_id}", auth)
        body = one.json()["CreditNotes"][0]
        assert body["CreditNoteID"] == note.credit_note_id and body["Type"] == "ACCRECCREDIT"
        assert body["RemainingCredit"] == to_major(note.remaining, note.currency)
        allocated = sum(a["Amount"] for a in body["Allocations"])
        assert allocated == to_major(note.total - note.remaining, note.currency)
    missing = await client.get(
        f"{API}/CreditNotes/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=auth
    )
    assert missing.status_code == 404


async def test_overpayments_and_prepayments_match_the_spec(client, auth, tenant):
    for name, records, id_name in (
        ("Overpayments", tenant.overpayments, "OverpaymentID"),
        ("Prepayments", tenant.prepayments, "PrepaymentID"),
    ):
        listed = await exchange(client, "GET", f"{API}/{name}", auth, params={"page": "1"})
        items = listed.json()[name]
        assert [i[id_name] for i in items] == list(records) and len(items) == 1
        credit = next(iter(records.values()))
        assert items[0]["RemainingCredit"] == credit.total / 100 == items[0]["Total"]
        assert items[0]["Status"] == "AUTHORISED" and items[0]["Allocations"] == []
        where = {"where": f'Contact.ContactID==Guid("{credit.contact_id}")'}
        found = await exchange(client, "GET", f"{API}/{name}", auth, params=where)
        assert len(found.json()[name]) == 1
        one = await exchange(client, "GET", f"{API}/{name}/{credit.credit_id}", auth)
        assert one.json()[name][0][id_name] == credit.credit_id
    assert next(iter(tenant.overpayments.values())).kind == "RECEIVE-OVERPAYMENT"
    assert next(iter(tenant.prepayments.values())).kind == "RECEIVE-PREPAYMENT"


# --- allocating -------------------------------------------------------------------------------


async def test_allocation_lowers_what_is_due_and_the_credit_left(client, auth, tenant):
    invoice = open_invoices(tenant)[0]
    note = await new_credit_note(client, tenant, invoice, 30)
    path = f"{API}/CreditNotes/{note['CreditNoteID']}/Allocations"
    before = await invoice_json(client, auth, invoice.invoice_id)

    answer = await exchange(client, "PUT", path, auth, json=allocation(invoice.invoice_id, 12.5))

    made = answer.json()["Allocations"][0]
    assert made["Amount"] == 12.5 and made["Invoice"]["InvoiceID"] == invoice.invoice_id
    assert made["CreditNote"]["CreditNoteID"] == note["CreditNoteID"]
    assert made["Date"] == "/Date(1795132800000+0000)/"  # 2026-11-20
    after = await invoice_json(client, auth, invoice.invoice_id)
    assert after["AmountDue"] == round(before["AmountDue"] - 12.5, 2)
    assert after["AmountCredited"] == 12.5 and after["Status"] == "AUTHORISED"
    assert after["CreditNotes"][0]["CreditNoteID"] == note["CreditNoteID"]
    assert after["CreditNotes"][0]["AppliedAmount"] == 12.5
    assert after["UpdatedDateUTC"] > before["UpdatedDateUTC"]
    credit = await exchange(client, "GET", f"{API}/CreditNotes/{note['CreditNoteID']}", auth)
    body = credit.json()["CreditNotes"][0]
    assert body["RemainingCredit"] == 17.5 and body["Status"] == "AUTHORISED"
    assert body["Allocations"][0]["Invoice"]["InvoiceNumber"] == invoice.number


async def test_a_fully_credited_invoice_is_paid_and_the_credit_used_up(client, auth, tenant):
    invoice = open_invoices(tenant)[1]
    due = invoice.amount_due / 100
    note = await new_credit_note(client, tenant, invoice, due)
    path = f"{API}/CreditNotes/{note['CreditNoteID']}/Allocations"
    await exchange(client, "PUT", path, auth, json=allocation(invoice.invoice_id, due))
    paid = await invoice_json(client, auth, invoice.invoice_id)
    assert paid["Status"] == "PAID" and paid["AmountDue"] == 0 and paid["AmountCredited"] == due
    assert paid["FullyPaidOnDate"] == "/Date(1795132800000+0000)/"
    credit = (await client.get(f"{API}/CreditNotes/{note['CreditNoteID']}", headers=auth)).json()
    assert credit["CreditNotes"][0]["Status"] == "PAID"
    assert credit["CreditNotes"][0]["RemainingCredit"] == 0
    again = await exchange(client, "PUT", path, auth, json=allocation(invoice.invoice_id, 1))
    assert again.status_code == 400
    messages = [e["Message"] for e in again.json()["Elements"][0]["ValidationErrors"]]
    assert PAID_OFF in messages and GREATER in messages


async def test_over_allocation_is_refused_like_xero(client, auth, tenant):
    invoice, other = open_invoices(tenant)[2:4]
    note = await new_credit_note(client, tenant, invoice, 5)
    path = f"{API}/CreditNotes/{note['CreditNoteID']}/Allocations"

    more_than_credit = await exchange(
        client, "PUT", path, auth, json=allocation(invoice.invoice_id, 5.01)
    )
    assert more_than_credit.status_code == 400
    body = more_than_credit.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Elements"][0]["ValidationErrors"] == [{"Message": GREATER}]
    assert body["Elements"][0]["Invoice"]["InvoiceID"] == invoice.invoice_id
    big = await new_credit_note(client, tenant, invoice, invoice.amount_due / 100 + 50)
    big_path = f"{API}/CreditNotes/{big['CreditNoteID']}/Allocations"
    more_than_due = await exchange(
        client, "PUT", big_path, auth, json=allocation(invoice.invoice_id, invoice.total / 100 + 1)
    )
    assert more_than_due.json()["Elements"][0]["ValidationErrors"] == [{"Message": GREATER}]
    if other.contact_id != invoice.contact_id:
        elsewhere = await client.put(path, json=allocation(other.invoice_id, 1), headers=auth)
        assert elsewhere.status_code == 400
    nothing = await client.put(path, json=allocation(invoice.invoice_id, 0), headers=auth)
    assert nothing.status_code == 400
    assert (
        invoice.amount_credited == 0 and tenant.credit_notes[note["CreditNoteID"]].remaining == 500
    )


async def test_allocation_is_idempotent_per_key(client, auth, tenant):
    invoice = open_invoices(tenant)[4]
    note = await new_credit_note(client, tenant, invoice, 20)
    path = f"{API}/CreditNotes/{note['CreditNoteID']}/Allocations"
    headers = {**auth, "Idempotency-Key": "allocate-once"}
    first = await client.put(path, json=allocation(invoice.invoice_id, 4), headers=headers)
    second = await client.put(path, json=allocation(invoice.invoice_id, 4), headers=headers)
    assert first.json() == second.json()
    assert invoice.amount_credited == 400


async def test_overpayment_and_prepayment_allocations(client, auth, tenant):
    for name, records, id_name in (
        ("Overpayments", tenant.overpayments, "OverpaymentID"),
        ("Prepayments", tenant.prepayments, "PrepaymentID"),
    ):
        credit = next(iter(records.values()))
        invoice = next(
            i
            for i in tenant.invoices.values()
            if i.contact_id == credit.contact_id and i.status == "AUTHORISED" and i.kind == "ACCREC"
        )
        due_before, left_before = invoice.amount_due, credit.remaining
        amount = min(due_before, left_before) // 2 / 100
        path = f"{API}/{name}/{credit.credit_id}/Allocations"
        made = await exchange(
            client, "PUT", path, auth, json=allocation(invoice.invoice_id, amount)
        )
        assert made.status_code == 200, made.text
        assert made.json()["Allocations"][0][id_name[:-2]][id_name] == credit.credit_id
        shown = await invoice_json(client, auth, invoice.invoice_id)
        nested = shown[name][0]
        assert nested[id_name] == credit.credit_id and nested["AppliedAmount"] == amount
        assert shown["AmountDue"] == round(due_before / 100 - amount, 2)
        listed = (await client.get(f"{API}/{name}/{credit.credit_id}", headers=auth)).json()
        assert listed[name][0]["RemainingCredit"] == round(left_before / 100 - amount, 2)
        assert listed[name][0]["Allocations"][0]["Amount"] == amount
        too_much = allocation(invoice.invoice_id, left_before / 100)
        refused = await exchange(client, "PUT", path, auth, json=too_much)
        label = id_name[:-2]
        assert refused.json()["Elements"][0]["ValidationErrors"] == [
            {"Message": f"{label} cannot be allocated as amount is greater than amount outstanding"}
        ]


# --- the admin API, the seed, webhooks --------------------------------------------------------


async def test_admin_creates_and_allocates_credit_notes(client, tenant):
    invoice = open_invoices(tenant)[5]
    created = await new_credit_note(client, tenant, invoice, 40)
    assert created["Status"] == "AUTHORISED" and created["RemainingCredit"] == 40.0
    assert created["CreditNoteNumber"] == f"CN-{len(tenant.credit_notes):04d}"
    path = f"{admin(tenant)}/credit-notes/{created['CreditNoteID']}/allocations"
    made = await client.post(path, json={"invoice_id": invoice.invoice_id, "amount": 15})
    assert made.status_code == 200, made.text
    assert made.json()["credit"]["RemainingCredit"] == 25.0
    assert made.json()["invoice"]["AmountCredited"] == 15.0
    refused = await client.post(path, json={"invoice_id": invoice.invoice_id, "amount": 26})
    assert refused.status_code == 400 and refused.json()["messages"] == [GREATER]
    listed = await client.get(
        f"{admin(tenant)}/credit-notes", params={"contact_id": invoice.contact_id}
    )
    assert created["CreditNoteID"] in [n["CreditNoteID"] for n in listed.json()]
    unknown = await client.post(
        f"{admin(tenant)}/credit-notes", json={"contact_id": "x", "amount": 1}
    )
    assert unknown.status_code == 404
    negative = await client.post(
        f"{admin(tenant)}/credit-notes", json={"contact_id": invoice.contact_id, "amount": -1}
    )
    assert negative.status_code == 400


def test_the_seed_gives_credit_deterministically(xero, tenant):
    twin = XeroSandbox(clock=xero.clock).add_tenant("Acme Trading Ltd", 300, seed=11)
    assert list(twin.credit_notes) == list(tenant.credit_notes)
    assert list(twin.overpayments) == list(tenant.overpayments)
    assert [g.contact_ids for g in twin.contact_groups.values()] == [
        g.contact_ids for g in tenant.contact_groups.values()
    ]
    notes = tenant.credit_notes.values()
    assert any(n.status == "PAID" and n.allocations for n in notes)  # fully allocated
    assert any(n.status == "AUTHORISED" and n.allocations and n.remaining for n in notes)
    assert any(n.status == "AUTHORISED" and not n.allocations for n in notes)
    assert len(tenant.overpayments) == 1 and len(tenant.prepayments) == 1
    for invoice in tenant.invoices.values():
        if invoice.status in ("AUTHORISED", "PAID"):
            settled = invoice.amount_paid + invoice.amount_credited
            assert invoice.amount_due == invoice.total - settled


def test_credit_notes_and_groups_survive_a_snapshot(xero, tenant, tmp_path):
    invoice = open_invoices(tenant)[7]
    note = xero.store.create_credit_note(tenant.tenant_id, invoice.contact_id, "12.00")
    xero.store.allocate(
        tenant.tenant_id,
        CREDIT_NOTE,
        note.credit_note_id,
        AllocationRequest(invoice.invoice_id, None, "2.00", date(2026, 12, 1)),
    )
    xero.store.add_note(tenant.tenant_id, invoice.invoice_id, "kept", "System Generated")
    path = xero.save_snapshot(tmp_path / "sandbox.json")
    restored = XeroSandbox()
    restored.load_snapshot(path)
    ledger = restored.store.ledger(tenant.tenant_id)
    assert ledger.credit_notes == tenant.credit_notes
    assert ledger.overpayments == tenant.overpayments
    assert ledger.prepayments == tenant.prepayments
    assert ledger.history == tenant.history and ledger.contact_groups == tenant.contact_groups
    assert ledger.invoices[invoice.invoice_id] == invoice


async def test_credit_changes_are_webhook_events(client, xero, tenant, receiver):  # noqa: F811
    served, received = receiver
    changes: list[Change] = []
    xero.store.listeners.append(changes.append)
    app = xero.identity.app(CLIENT_ID)
    app.webhook_url, app.webhook_key = f"{served.url}/webhooks/xero", KEY
    xero.connect(CLIENT_ID, [tenant.tenant_id])
    invoice = open_invoices(tenant)[6]
    note = await new_credit_note(client, tenant, invoice, 10)
    await client.post(
        f"{admin(tenant)}/credit-notes/{note['CreditNoteID']}/allocations",
        json={"invoice_id": invoice.invoice_id, "amount": 10},
    )
    contact = await client.post(f"{admin(tenant)}/contacts", json={"Name": "Brand New Ltd"})
    assert contact.status_code == 201
    assert [(c.category, c.event_type, c.resource_id) for c in changes] == [
        ("CREDITNOTE", "CREATE", note["CreditNoteID"]),
        ("CREDITNOTE", "UPDATE", note["CreditNoteID"]),
        ("INVOICE", "UPDATE", invoice.invoice_id),
        ("CONTACT", "CREATE", contact.json()["ContactID"]),
    ]
    await xero.webhooks.wait_idle()
    events = [e for batch in received for e in json.loads(batch["raw"])["events"]]
    for batch in received:
        jsonschema.validate(json.loads(batch["raw"]), webhook_event_schema())
    credit_events = [e for e in events if e["eventCategory"] == "CREDITNOTE"]
    assert [e["eventType"] for e in credit_events] == ["CREATE", "UPDATE"]
    assert credit_events[0]["resourceUrl"].endswith(f"/CreditNotes/{note['CreditNoteID']}")


# --- Xero's SDK over HTTP ---------------------------------------------------------------------


async def test_the_sdk_reads_and_allocates_credit(sdk, tenant):  # noqa: F811
    notes = await sdk.call(sdk.accounting.get_credit_notes, page=1)
    assert isinstance(notes, CreditNotes) and len(notes.credit_notes) == len(tenant.credit_notes)
    open_note = next(
        n for n in tenant.credit_notes.values() if n.status == "AUTHORISED" and not n.allocations
    )
    one = (await sdk.call(sdk.accounting.get_credit_note, open_note.credit_note_id)).credit_notes[0]
    assert str(one.credit_note_id) == open_note.credit_note_id
    assert one.type == "ACCRECCREDIT" and one.status == "AUTHORISED"
    assert one.remaining_credit == money(open_note.remaining, open_note.currency)
    assert one.date == open_note.date
    invoice = next(
        i
        for i in tenant.invoices.values()
        if i.contact_id == open_note.contact_id and i.status == "AUTHORISED" and i.kind == "ACCREC"
    )
    amount = min(invoice.amount_due, open_note.remaining) / 100
    request = Allocations(
        allocations=[
            Allocation(
                invoice=InvoiceReference(invoice_id=invoice.invoice_id),
                amount=amount,
                date=date(2026, 11, 30),
            )
        ]
    )
    made = await sdk.call(
        sdk.accounting.create_credit_note_allocation, open_note.credit_note_id, request
    )
    assert made.allocations[0].amount == money(round(amount * 100), invoice.currency)
    assert made.allocations[0].date == date(2026, 11, 30)
    assert str(made.allocations[0].invoice.invoice_id) == invoice.invoice_id
    assert invoice.amount_credited >= round(amount * 100)
    got = (await sdk.call(sdk.accounting.get_invoice, invoice.invoice_id)).invoices[0]
    assert got.amount_credited == money(invoice.amount_credited, invoice.currency)
    assert str(got.credit_notes[-1].credit_note_id) == open_note.credit_note_id
    try:
        await sdk.call(
            sdk.accounting.create_credit_note_allocation, open_note.credit_note_id, request
        )
    except BadRequestException as error:
        assert error.reason == GREATER
    else:
        raise AssertionError("a second allocation of the same credit was accepted")


async def test_the_sdk_reads_and_allocates_overpayments_and_prepayments(sdk, tenant):  # noqa: F811
    overpayments = await sdk.call(sdk.accounting.get_overpayments)
    assert isinstance(overpayments, Overpayments)
    credit = next(iter(tenant.overpayments.values()))
    first = overpayments.overpayments[0]
    assert str(first.overpayment_id) == credit.credit_id
    assert first.type == "RECEIVE-OVERPAYMENT" and first.status == "AUTHORISED"
    assert first.remaining_credit == money(credit.remaining, credit.currency)
    prepayments = await sdk.call(sdk.accounting.get_prepayments)
    assert isinstance(prepayments, Prepayments)
    prepayment = next(iter(tenant.prepayments.values()))
    assert str(prepayments.prepayments[0].prepayment_id) == prepayment.credit_id
    one = await sdk.call(sdk.accounting.get_prepayment, prepayment.credit_id)
    assert one.prepayments[0].total == money(prepayment.total, prepayment.currency)
    invoice = next(
        i
        for i in tenant.invoices.values()
        if i.contact_id == credit.contact_id and i.status == "AUTHORISED" and i.kind == "ACCREC"
    )
    amount = min(invoice.amount_due, credit.remaining) / 100
    request = Allocations(
        allocations=[
            Allocation(
                invoice=InvoiceReference(invoice_id=invoice.invoice_id),
                amount=amount,
                date=date(2026, 12, 1),
            )
        ]
    )
    made = await sdk.call(sdk.accounting.create_overpayment_allocations, credit.credit_id, request)
    assert str(made.allocations[0].invoice.invoice_id) == invoice.invoice_id
    got = (await sdk.call(sdk.accounting.get_invoice, invoice.invoice_id)).invoices[0]
    assert str(got.overpayments[0].overpayment_id) == credit.credit_id
    assert got.overpayments[0].applied_amount == money(round(amount * 100), invoice.currency)
    assert got.amount_due == money(invoice.amount_due, invoice.currency)
