# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""Customers' credit in Xero (credit notes, overpayments, prepayments): read by every sync, set
against what they owe, and an allocation in Xero reaches the chase. Against the Xero sandbox
over HTTP, with a real worker on the dev server for the end-to-end cases."""

from __future__ import annotations

import re
from datetime import date

import httpx
from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.models import Credit, Customer, Invoice, Template
from duely.sandbox.xero.ledger import SALES
from duely.sandbox.xero.store import CREDIT_NOTE, AllocationRequest
from tests.waiting import eventually
from tests.xero.conftest import connect_through_oauth, only_connection, wait_for_runs
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    chases_settled,
    chasing_settings,
    connected_tenant,
    open_invoices,
    sync_once,
    synced,
    xero_settings,
)


def open_credit_in_xero(tenant) -> dict[str, tuple[str, str, int]]:
    """{id: (kind, contact, remaining)} of every customer credit the sandbox holds."""
    found = {
        note.credit_note_id: ("credit_note", note.contact_id, note.remaining)
        for note in tenant.credit_notes.values()
        if note.kind == "ACCRECCREDIT" and note.status == "AUTHORISED" and note.remaining
    }
    for records, kind in ((tenant.overpayments, "overpayment"), (tenant.prepayments, "prepayment")):
        found |= {
            record.credit_id: (kind, record.contact_id, record.remaining)
            for record in records.values()
            if record.kind.startswith("RECEIVE") and record.status == "AUTHORISED"
            if record.remaining
        }
    return found


async def test_open_credit_reads_every_kind_of_credit_the_ledger_holds(connected):
    tenant, connection, ledgers = connected
    expected = open_credit_in_xero(tenant)
    assert {kind for kind, _, _ in expected.values()} == {
        "credit_note",
        "overpayment",
        "prepayment",
    }  # the seed holds each kind: the test reads all three

    credit = await ledgers.open(connection).open_credit()

    assert {
        c.external_id.lower(): (c.kind, c.contact_external_id.lower(), c.remaining) for c in credit
    } == {key.lower(): (k, contact.lower(), left) for key, (k, contact, left) in expected.items()}


async def test_a_sync_keeps_the_customers_credit_and_drops_what_was_allocated_since(
    worker, synced, xero, dev_server_env, chasing_settings, db, org_a
):
    tenant, connection = synced
    db.expire_all()
    credits = db.exec(select(Credit).where(Credit.connection_id == connection.id)).all()
    customers = {c.id: c.external_id.lower() for c in db.exec(select(Customer))}
    in_xero = open_credit_in_xero(tenant)
    assert credits, "the seeded tenant's credit did not reach duely"
    for credit in credits:
        kind, contact, remaining = in_xero[credit.external_id.lower()]
        assert (credit.kind, customers[credit.customer_id], credit.remaining) == (
            kind,
            contact.lower(),
            remaining,
        )

    # Xero allocates all that is left of one credit note: the next sync drops it.
    note = next(c for c in credits if c.kind == "credit_note")
    target = next(
        i
        for i in tenant.invoices.values()
        if i.kind == SALES
        and i.status == "AUTHORISED"
        and i.contact_id.lower() == customers[note.customer_id]
        and i.amount_due >= note.remaining
    )
    allocated, before = note.external_id, {c.external_id for c in credits}
    xero.store.allocate(
        tenant.tenant_id,
        CREDIT_NOTE,
        allocated,
        AllocationRequest(target.invoice_id, None, note.remaining / 100, date.today()),
    )
    await sync_once(dev_server_env.client, chasing_settings, db, connection)
    db.expire_all()  # the rows are replaced: read them afresh, not through the old objects
    assert {c.external_id for c in db.exec(select(Credit))} == before - {allocated}


async def test_a_credit_note_allocated_in_xero_lowers_what_the_next_reminder_asks_for(
    worker, synced, xero, dev_server_env, chasing_settings, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    tenant, connection = synced
    invoice = open_invoices(db)[0]
    was_due = invoice.amount_due
    in_xero = tenant.invoices[invoice.external_id.lower()]
    note = xero.store.create_credit_note(tenant.tenant_id, in_xero.contact_id, 25)
    xero.store.allocate(
        tenant.tenant_id,
        CREDIT_NOTE,
        note.credit_note_id,
        AllocationRequest(in_xero.invoice_id, None, 25, date.today()),
    )
    await sync_once(dev_server_env.client, chasing_settings, db, connection)
    db.expire_all()
    lowered = db.get(Invoice, invoice.id)
    assert lowered.amount_due == was_due - 2500

    await chase_control.act(dev_server_env.client, lowered, Action.SEND_NOW, by="ann@alpha.test")

    async def delivered():
        return [r for r in catcher.received if invoice.number in r.message.get_content()]

    (email,) = await eventually(delivered, "the reminder never reached the mail server")
    body = email.message.get_content()
    assert f"{lowered.amount_due / 100:,.2f}" in body
    assert f"{was_due / 100:,.2f}" not in body


async def test_an_invoice_fully_credited_in_xero_ends_its_chase(
    worker, synced, xero, dev_server_env, chasing_settings, db, org_a
):
    tenant, connection = synced
    invoice = open_invoices(db)[0]
    in_xero = tenant.invoices[invoice.external_id.lower()]
    due = in_xero.amount_due / 100
    note = xero.store.create_credit_note(tenant.tenant_id, in_xero.contact_id, due)
    xero.store.allocate(
        tenant.tenant_id,
        CREDIT_NOTE,
        note.credit_note_id,
        AllocationRequest(in_xero.invoice_id, None, due, date.today()),
    )
    assert in_xero.status == "PAID"
    await sync_once(dev_server_env.client, chasing_settings, db, connection)

    view = await chase_control.view(dev_server_env.client, invoice)
    assert view.state == "paid"


async def test_a_credit_note_made_in_xero_reaches_duely_through_its_webhook(
    xero, worker, duely, db, org_a
):
    """Xero's CREDITNOTE webhook asks for a sync, which brings the new credit in."""
    tenant = xero.add_tenant("Credited Ltd", 40, seed=17)
    await connect_through_oauth(duely, org_a.admin)
    connection = only_connection(db)
    await wait_for_runs(db, connection.id, 1)
    assert (await xero.webhooks.intent_to_receive("duely-test"))["passed"]
    customer = db.exec(select(Customer).where(Customer.connection_id == connection.id)).first()

    note = xero.store.create_credit_note(tenant.tenant_id, customer.external_id, 42)

    await wait_for_runs(db, connection.id, 2)
    db.expire_all()
    credit = db.exec(select(Credit).where(Credit.external_id == note.credit_note_id)).one()
    assert (credit.customer_id, credit.kind, credit.remaining) == (customer.id, "credit_note", 4200)


async def test_a_reminder_links_the_invoice_online_in_xero(
    worker, synced, dev_server_env, smtp_server, db, org_a
):
    """A template that asks for `invoice.online_url` gets Xero's online invoice, fetched once
    and kept; the link opens the invoice without signing in."""
    catcher, _ = smtp_server
    await chases_settled(db)  # their writes done: SQLite takes one writer at a time
    for template in db.exec(select(Template).where(Template.organisation_id == org_a.id)):
        template.body += "\n\nSee it online: {{ invoice.online_url }}"
    db.commit()
    invoice = open_invoices(db)[0]
    await chase_control.act(dev_server_env.client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def delivered():
        return [r for r in catcher.received if invoice.number in r.message.get_content()]

    (email,) = await eventually(delivered, "the reminder never reached the mail server")
    (link,) = re.findall(r"See it online: (\S+)", email.message.get_content())
    db.expire_all()
    assert db.get(Invoice, invoice.id).online_url == link
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link)
    assert page.status_code == 200 and invoice.number in page.text
