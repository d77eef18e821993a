"""duely's QuickBooks connector, reading, against the QuickBooks sandbox over HTTP: every
invoice and customer of a company arrives (counts and amount due equal to the company's),
a second pass from the newest stamp brings exactly what changed since, lookups by id, the
company's profile, the PDF, and a token QuickBooks rejects is refreshed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from duely.models import InvoiceStatus


async def everything(pages) -> list:
    return [item async for page in pages for item in page.items]


async def test_a_full_read_brings_every_invoice_and_customer(connected):
    company, ledger = connected.company, connected.ledger
    # Pages of 1,000 at most; each resumes a second before the last one's newest stamp, so a
    # record may come twice (the mirror upserts): the last word on each counts.
    invoices = list(
        {i.external_id: i for i in await everything(ledger.changed_invoices(None))}.values()
    )
    assert len(invoices) == len(company.invoices) == 2_500
    open_ones = [i for i in invoices if i.status == InvoiceStatus.OPEN]
    assert sum(i.amount_due for i in open_ones) == sum(
        i.balance for i in company.invoices.values() if not i.voided
    )
    sample = company.invoices[invoices[0].external_id]
    mirrored = invoices[0]
    assert (mirrored.number, mirrored.due_date, mirrored.total, mirrored.contact_external_id) == (
        sample.doc_number,
        sample.due_date,
        sample.total,
        sample.customer_id,
    )
    customers = await everything(ledger.changed_contacts(None))
    assert {c.external_id for c in customers} == {
        c.id for c in company.customers.values() if c.active
    }


async def test_a_second_pass_from_the_newest_stamp_brings_what_changed_since(connected):
    sandbox, company, ledger = connected.sandbox, connected.company, connected.ledger
    first = await everything(ledger.changed_invoices(None))
    newest = max(i.updated_at for i in first)
    sandbox.clock.advance(5)
    changed = list(company.invoices)[:7]
    for invoice_id in changed:
        sandbox.store.pay_in_full(company.realm_id, invoice_id)

    again = await everything(ledger.changed_invoices(newest))

    later = {i.external_id for i in again if i.updated_at > newest}
    assert later == set(changed)
    assert all(i.status == InvoiceStatus.PAID for i in again if i.external_id in later)


async def test_lookups_profile_and_pdf(connected):
    company, ledger = connected.company, connected.ledger
    wanted = list(company.invoices)[:150]  # two queries of at most 100 ids
    assert {i.external_id for i in await ledger.get_invoices(wanted)} == set(wanted)
    people = list(company.customers)[:3]
    assert {c.external_id for c in await ledger.get_contacts(people)} == set(people)
    profile = await ledger.organisation()
    assert (profile.name, profile.base_currency) == (company.name, company.currency)
    assert (await ledger.invoice_pdf(wanted[0])).startswith(b"%PDF")


async def test_a_token_quickbooks_rejects_is_refreshed_once(connected):
    sandbox, company, ledger = connected.sandbox, connected.company, connected.ledger
    sandbox.clock.advance(3_700)  # the access token (1 h) has run out; duely thinks not
    assert len(await ledger.get_invoices(list(company.invoices)[:2])) == 2
    assert len(connected.store.refreshed_with) == 1


async def test_a_sync_older_than_the_change_feed_reaches_reads_by_query(connected):
    """QuickBooks' change feed goes back 30 days; from further back, a query does the job
    (deletions then wait for a sync within reach)."""
    company, ledger = connected.company, connected.ledger
    long_ago = datetime.now(UTC) - timedelta(days=45)
    read = await everything(ledger.changed_invoices(long_ago))
    recent = [i for i in company.invoices.values() if i.updated >= long_ago]
    assert {i.external_id for i in read} >= {i.id for i in recent}
