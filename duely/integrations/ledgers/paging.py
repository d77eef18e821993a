"""Keyset paging on a ledger's last-modified stamp, the way both ledgers' syncs read changes.

Each page's newest stamp becomes the next cursor (and the page number starts again at 1), so a
record changed while we page is not skipped: it moves behind the cursor and comes in a later
page. A whole page stamped within the same second cannot move the cursor: then the page number
steps on instead. The caller's `read_page(cursor, page)` asks the ledger for one page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

from duely.integrations.ledgers.base import Changes, LedgerContact, LedgerInvoice

Record = LedgerContact | LedgerInvoice


async def keyset_pages(
    read_page: Callable[[datetime | None, int], Awaitable[Sequence[Record]]],
    page_size: int,
    since: datetime | None,
    page: int,
) -> AsyncIterator[Changes]:
    cursor = since
    while True:
        items = list(await read_page(cursor, page))
        done = len(items) < page_size
        newest = max((i.updated_at for i in items if i.updated_at), default=None)
        if newest and (cursor is None or newest > cursor):
            cursor, page = newest, 1
        else:
            page += 1  # a whole page stamped within the same second: step through it
        yield Changes(items=items, next_cursor=cursor, next_page=page, done=done)
        if done:
            return
