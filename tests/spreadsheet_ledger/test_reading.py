"""Reading the spreadsheet ledger as the sync does: changed records in keyset pages of 1,000
(the cursor, the page number and resumption as for Xero), and records by number or code."""

from __future__ import annotations

from datetime import date, timedelta

from duely.integrations.ledgers.base import LedgerOrganisation, LedgerPerson
from duely.integrations.ledgers.spreadsheet.ledger import PAGE_SIZE
from tests.spreadsheet_ledger.conftest import STAMP, customer, invoice, saved


async def read_all(pages) -> tuple[list, list]:
    """Every item read (with repeats), and each page's Changes."""
    items, seen = [], []
    async for page in pages:
        items += page.items
        seen.append(page)
    return items, seen


async def test_an_import_stamped_at_one_instant_is_read_whole_across_pages(db, connection, ledger):
    saved(db, *(invoice(connection, f"INV-{n:05d}") for n in range(2 * PAGE_SIZE + 500)))
    items, pages = await read_all(ledger.changed_invoices(None))
    assert {i.external_id for i in items} == {f"INV-{n:05d}" for n in range(2 * PAGE_SIZE + 500)}
    assert all(len(p.items) <= PAGE_SIZE for p in pages)
    assert pages[-1].done and not any(p.done for p in pages[:-1])
    assert len(pages) <= 5  # stepped through, not read for ever
    assert pages[-1].next_cursor == STAMP


async def test_stamps_in_order_move_the_cursor_and_a_pass_resumes_where_it_stopped(
    db, connection, ledger
):
    total = 2 * PAGE_SIZE + 300
    # Runs of 700 rows share a stamp, so pages end in the middle of a run.
    saved(
        db,
        *(
            invoice(connection, f"INV-{n:05d}", updated_at=STAMP + timedelta(hours=n // 700))
            for n in range(total)
        ),
    )
    everything = {f"INV-{n:05d}" for n in range(total)}
    items, pages = await read_all(ledger.changed_invoices(None))
    assert {i.external_id for i in items} == everything
    assert [i.updated_at for i in items] == sorted(i.updated_at for i in items)
    assert pages[-1].next_cursor == STAMP + timedelta(hours=(total - 1) // 700)

    # Stopped after the first page (a crash): resumed from the cursor and page it reported.
    first = pages[0]
    rest, _ = await read_all(ledger.changed_invoices(first.next_cursor, first.next_page))
    assert {i.external_id for i in first.items} | {i.external_id for i in rest} == everything


async def test_only_changes_after_the_cursor_are_read(db, connection, ledger):
    later = STAMP + timedelta(hours=2)
    saved(
        db,
        customer(connection, "OLD"),
        customer(connection, "NEW", updated_at=later),
        invoice(connection, "INV-OLD"),
        invoice(connection, "INV-NEW", updated_at=later),
    )
    cursor = STAMP + timedelta(hours=1)
    contacts, _ = await read_all(ledger.changed_contacts(cursor))
    invoices, pages = await read_all(ledger.changed_invoices(cursor))
    assert [c.external_id for c in contacts] == ["NEW"]
    assert [i.external_id for i in invoices] == ["INV-NEW"]
    assert pages[-1].next_cursor == later and pages[-1].done
    nothing, pages = await read_all(ledger.changed_invoices(later + timedelta(hours=1)))
    assert nothing == [] and pages[-1].done
    everything, _ = await read_all(ledger.changed_contacts(None))
    assert [c.external_id for c in everything] == ["OLD", "NEW"]


async def test_another_connections_rows_are_not_read(db, connection, ledger, org_a):
    from tests.factories import add_connection

    other = add_connection(db, org_a.id, "Other books", provider="csv")
    saved(db, invoice(other, "INV-1"), customer(other, "C1"), invoice(connection, "INV-2"))
    invoices, _ = await read_all(ledger.changed_invoices(None))
    contacts, _ = await read_all(ledger.changed_contacts(None))
    assert [i.external_id for i in invoices] == ["INV-2"]
    assert contacts == []
    assert await ledger.get_invoices(["INV-1"]) == []


async def test_customers_and_invoices_in_duelys_terms(db, connection, ledger):
    saved(
        db,
        customer(
            connection, "C1", name="Acme Ltd", contact_name="Ada  King Lovelace",
            email="ada@acme.test", phone="+44 20 7946 0000",
        ),
        customer(connection, "C2", name="Bolt Widgets", email="ap@bolt.test"),
        customer(connection, "C3", name="Quiet Co"),
        invoice(connection, "INV-1", reference="PO 77", total=12_345, amount_due=2_345),
        invoice(connection, "INV-2", customer_code="C9", issue_date=None, status="paid"),
    )  # fmt: skip
    contacts = {c.external_id: c for c in await ledger.get_contacts(["C1", "C2", "C3", "C9"])}
    assert set(contacts) == {"C1", "C2", "C3"}
    assert contacts["C1"].name == "Acme Ltd"
    assert contacts["C1"].people == (
        LedgerPerson("Ada", "King Lovelace", "ada@acme.test", "+44 20 7946 0000"),
    )
    assert contacts["C2"].people == (LedgerPerson("Bolt", "Widgets", "ap@bolt.test", ""),)
    assert contacts["C3"].people == ()
    assert contacts["C1"].updated_at == STAMP

    invoices = {i.external_id: i for i in await ledger.get_invoices(["INV-1", "INV-2", "NOPE"])}
    one, two = invoices["INV-1"], invoices["INV-2"]
    assert (one.number, one.reference, one.contact_external_id, one.contact_name) == (
        "INV-1", "PO 77", "C1", "Acme Ltd",
    )  # fmt: skip
    assert (one.issue_date, one.due_date, one.currency) == (
        date(2026, 3, 1), date(2026, 3, 31), "GBP",
    )  # fmt: skip
    assert (one.total, one.amount_due, one.status, one.expected_payment_date) == (
        12_345, 2_345, "open", None,
    )  # fmt: skip
    assert one.updated_at == STAMP
    assert (two.contact_name, two.issue_date, two.status) == ("", date(2026, 3, 31), "paid")
    changed, _ = await read_all(ledger.changed_invoices(None))
    assert {i.external_id: i for i in changed} == invoices


async def test_what_a_customer_owes_and_what_the_ledger_does_not_hold(db, connection, ledger):
    saved(
        db,
        invoice(connection, "INV-1", amount_due=4_000),
        invoice(connection, "INV-2", amount_due=1_500),
        invoice(connection, "INV-3", amount_due=900, currency="EUR"),
        invoice(connection, "INV-4", amount_due=0, status="paid"),
        invoice(connection, "INV-5", amount_due=700, status="voided"),
        invoice(connection, "INV-6", customer_code="C2", amount_due=800),
    )
    assert await ledger.owed_by("C1", date(2026, 4, 1), "GBP") == 5_500
    assert await ledger.owed_by("C1", date(2026, 4, 1), "EUR") == 900
    assert await ledger.owed_by("C7", date(2026, 4, 1), "GBP") == 0
    assert await ledger.open_credit() == []
    assert await ledger.contact_groups() == []
    assert ledger.needs_payment_account is False
    assert await ledger.organisation() == LedgerOrganisation(connection.tenant_name, "", "", "")
    await ledger.set_expected_payment_date("INV-1", date(2026, 4, 9))  # kept in duely only
    for call in (
        ledger.invoice_pdf("INV-1"),
        ledger.online_invoice_url("INV-1"),
        ledger.add_notes("INV-1", ["a note"], "key"),
    ):
        try:
            await call
        except NotImplementedError as error:
            assert str(error)
        else:
            raise AssertionError("expected NotImplementedError")
