"""The keyset paging both ledgers' syncs use, on a ledger of stamped records held in a list:
every record is read once a sync, records changed while paging are not skipped, and a page
whose records share one stamp is stepped through rather than read for ever."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from duely.integrations.ledgers.base import LedgerInvoice
from duely.integrations.ledgers.paging import keyset_pages

START = datetime(2026, 12, 1, tzinfo=UTC)


def invoice(n: int, stamp: datetime) -> LedgerInvoice:
    return LedgerInvoice(
        f"inv-{n}", f"INV-{n}", "", "c", "C", date(2026, 1, 1), date(2026, 2, 1), "GBP",
        100, 100, "open", None, stamp,
    )  # fmt: skip


class Ledger:
    """Answers pages as a ledger does: records stamped at or after the cursor, oldest first."""

    def __init__(self, records: list[LedgerInvoice], size: int) -> None:
        self.records, self.size, self.reads = records, size, 0

    async def page(self, cursor: datetime | None, number: int) -> list[LedgerInvoice]:
        self.reads += 1
        after = [r for r in self.records if cursor is None or r.updated_at >= cursor]
        after.sort(key=lambda r: r.updated_at)
        return after[(number - 1) * self.size : number * self.size]


async def read_all(ledger: Ledger, since: datetime | None = None) -> set[str]:
    return {
        i.external_id
        async for p in keyset_pages(ledger.page, ledger.size, since, 1)
        for i in p.items
    }


async def test_every_record_is_read_and_the_cursor_moves_with_the_newest_stamp():
    ledger = Ledger([invoice(n, START + timedelta(seconds=n)) for n in range(25)], size=10)
    assert await read_all(ledger) == {f"inv-{n}" for n in range(25)}
    pages = [p async for p in keyset_pages(ledger.page, 10, None, 1)]
    assert [p.next_cursor for p in pages[:2]] == [
        START + timedelta(seconds=9),
        START + timedelta(seconds=18),
    ]


async def test_a_page_stamped_within_one_second_is_stepped_through():
    same = [invoice(n, START) for n in range(23)]  # a bulk import: one stamp for all
    ledger = Ledger(same, size=10)
    assert await read_all(ledger) == {f"inv-{n}" for n in range(23)}
    assert ledger.reads < 10  # stepped through, not read for ever
