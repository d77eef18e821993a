# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""The chase inside Xero: timeline lines worth a bookkeeper's eye become notes on the invoice's
History & Notes in the ledger, written once, oldest first, a few calls per tenant per round;
a ledger that is down keeps them for the next round. Against the Xero sandbox over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.core.db import Database
from duely.ledgers import history_notes
from duely.ledgers.history_notes import write_notes
from duely.models import Event
from duely.sandbox.xero.faults import FaultRule
from duely.workflows.ledger_notes import LedgerNotesWorkflow
from tests.factories import add_connection, add_customer, add_invoice
from tests.waiting import eventually
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    chasing_settings,
    connected_tenant,
    open_invoices,
    synced,
    xero_settings,
)


@pytest_asyncio.fixture
async def database(xero_settings) -> AsyncIterator[Database]:
    database = Database(xero_settings.resolved_database_url)
    yield database
    await database.dispose()


def in_xero(tenant, count: int) -> list:
    """Open sales invoices the sandbox holds."""
    found = [i for i in tenant.invoices.values() if i.kind == "ACCREC" and i.status == "AUTHORISED"]
    return found[:count]


def mirrored(db, org_id: int, connection, xero_invoices) -> list:
    """duely's copies of those invoices, linked to the connection."""
    customer = add_customer(db, org_id, "noted", connection_id=connection.id)
    return [
        add_invoice(
            db,
            customer,
            f"INV-N{n}",
            10,
            connection_id=connection.id,
            external_id=xero_invoice.invoice_id,
        )
        for n, xero_invoice in enumerate(xero_invoices)
    ]


def line(db, invoice, kind: str, detail: str) -> Event:
    event = Event(
        organisation_id=invoice.organisation_id, invoice_id=invoice.id, kind=kind, detail=detail
    )
    db.add(event)
    db.commit()
    return event


def notes_in_xero(tenant, xero_invoice) -> list[str]:
    return [note.details for note in tenant.history.get(xero_invoice.invoice_id.lower(), [])]


def not_yet_dealt_with(db) -> list[str]:
    db.expire_all()
    return [e.kind for e in db.exec(select(Event).where(Event.ledger_noted_at.is_(None)))]


async def test_a_chase_shows_up_once_in_the_invoices_history_in_xero(
    connected, database, db, org_a
):
    tenant, connection, ledgers = connected
    first, second = in_xero(tenant, 2)
    mine, other = mirrored(db, org_a.id, connection, [first, second])
    line(db, mine, "reminder_sent", "First reminder: emailed to sam@okafor.test")
    line(db, mine, "queued", "First reminder handed to the outbox")  # the engine's own
    line(db, mine, "paused", "paused by ann@alpha.test: on holiday")
    line(db, other, "promised", "payment promised for 2027-01-10 (told customer)")
    imported = add_invoice(db, add_customer(db, org_a.id, "csv"), "CSV-1", 3)
    line(db, imported, "reminder_sent", "First reminder: emailed")  # no ledger holds it

    done = await write_notes(database, ledgers)

    assert (done.written, done.passed_over, done.left_for_later) == (3, 2, 0)
    assert notes_in_xero(tenant, first) == [
        "duely: First reminder: emailed to sam@okafor.test",
        "duely: paused by ann@alpha.test: on holiday",
    ]
    assert notes_in_xero(tenant, second) == [
        "duely: payment promised for 2027-01-10 (told customer)"
    ]
    assert not_yet_dealt_with(db) == []
    again = await write_notes(database, ledgers)
    assert (again.written, again.passed_over) == (0, 0)
    assert len(notes_in_xero(tenant, first)) == 2


async def test_a_reminder_sent_shows_up_in_the_invoices_xero_history(
    worker, synced, dev_server_env, chasing_settings, db, org_a
):
    """The real path: a worker on the dev server emails a reminder, then the ledger-notes round
    (the workflow the `ledger-notes` schedule starts) writes it into the invoice in Xero."""
    tenant, _ = synced
    invoice = open_invoices(db)[0]
    await chase_control.act(dev_server_env.client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def sent() -> Event | None:
        db.expire_all()
        query = select(Event).where(Event.invoice_id == invoice.id, Event.kind == "reminder_sent")
        return db.exec(query).first()

    event = await eventually(sent, "the reminder never reached the timeline")
    done = await dev_server_env.client.execute_workflow(
        LedgerNotesWorkflow.run,
        id=f"ledger-notes-test-{invoice.id}",
        task_queue=chasing_settings.temporal_task_queue,
    )

    assert done.written >= 1
    notes = notes_in_xero(tenant, tenant.invoices[invoice.external_id.lower()])
    assert f"duely: {event.detail}" in notes
    assert "emailed to" in event.detail


async def test_a_ledger_that_is_down_keeps_the_notes_for_the_next_round(
    xero, connected, database, db, org_a
):
    tenant, connection, ledgers = connected
    (xero_invoice,) = in_xero(tenant, 1)
    (invoice,) = mirrored(db, org_a.id, connection, [xero_invoice])
    line(db, invoice, "escalated", "escalated by ann@alpha.test")
    xero.faults.replace([FaultRule(path_contains="/History", rate_500=1.0)])

    down = await write_notes(database, ledgers)

    assert (down.written, down.left_for_later) == (0, 1)
    assert "500" in down.problems[0]
    assert not_yet_dealt_with(db) == ["escalated"]
    xero.faults.clear()
    back = await write_notes(database, ledgers)
    assert back.written == 1
    assert notes_in_xero(tenant, xero_invoice) == ["duely: escalated by ann@alpha.test"]


async def test_notes_for_an_invoice_xero_no_longer_has_are_passed_over(
    connected, database, db, org_a
):
    tenant, connection, ledgers = connected
    customer = add_customer(db, org_a.id, "gone", connection_id=connection.id)
    gone = add_invoice(
        db,
        customer,
        "INV-GONE",
        5,
        connection_id=connection.id,
        external_id="0b5e1f4e-0000-4000-8000-000000000000",
    )
    line(db, gone, "stopped", "chasing stopped by ann@alpha.test")

    done = await write_notes(database, ledgers)

    assert (done.written, done.passed_over, done.left_for_later) == (0, 1, 0)
    assert not_yet_dealt_with(db) == []


async def test_a_long_line_is_cut_to_what_xero_keeps(connected, database, db, org_a):
    tenant, connection, ledgers = connected
    (xero_invoice,) = in_xero(tenant, 1)
    (invoice,) = mirrored(db, org_a.id, connection, [xero_invoice])
    line(db, invoice, "dispute_opened", "dispute opened by ann: " + "the goods were late " * 20)

    assert (await write_notes(database, ledgers)).written == 1

    (note,) = notes_in_xero(tenant, xero_invoice)
    assert len(note) == 250 and note.startswith("duely: dispute opened by ann") and note[-1] == "…"


async def test_a_round_makes_a_few_calls_per_tenant_and_leaves_the_rest(
    connected, database, db, org_a, monkeypatch
):
    tenant, connection, ledgers = connected
    monkeypatch.setattr(history_notes, "CALLS_PER_TENANT", 2)
    xero_invoices = in_xero(tenant, 3)
    for invoice in mirrored(db, org_a.id, connection, xero_invoices):
        line(db, invoice, "reminder_sent", f"Reminder for {invoice.number}: emailed")

    first = await write_notes(database, ledgers)
    assert (first.written, first.left_for_later) == (2, 1)
    second = await write_notes(database, ledgers)
    assert (second.written, second.left_for_later) == (1, 0)
    assert [len(notes_in_xero(tenant, i)) for i in xero_invoices] == [1, 1, 1]


async def test_a_tenant_waiting_to_be_reconnected_keeps_its_notes_and_holds_up_no_other(
    connected, database, db, org_a
):
    tenant, connection, ledgers = connected
    dead = add_connection(db, org_a.id, "Gone Books", status="needs_reconnect")
    (elsewhere,) = mirrored(db, org_a.id, dead, [in_xero(tenant, 2)[1]])
    # Older than the live tenant's line, and more than a round could ever look at in one go.
    db.add_all(
        Event(
            organisation_id=org_a.id,
            invoice_id=elsewhere.id,
            kind="reminder_sent",
            detail=f"Reminder {n}: emailed",
        )
        for n in range(600)
    )
    db.commit()
    (xero_invoice,) = in_xero(tenant, 1)
    (invoice,) = mirrored(db, org_a.id, connection, [xero_invoice])
    line(db, invoice, "paused", "paused by ann@alpha.test")

    done = await write_notes(database, ledgers)

    assert done.written == 1
    assert notes_in_xero(tenant, xero_invoice) == ["duely: paused by ann@alpha.test"]
    assert not_yet_dealt_with(db) == ["reminder_sent"] * 600  # kept for the reconnection
