"""The sync reads the next page while it writes this one (duely.activities.sync._read_ahead):
pages still arrive in order, one at most is asked for ahead, nothing is asked for after the
last, and a failed read reaches the writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from duely.activities.sync import _read_ahead
from duely.integrations.ledgers.base import Changes


def _pages(count: int, asked: list[int], fail_at: int | None = None) -> AsyncIterator[Changes]:
    async def pages() -> AsyncIterator[Changes]:
        for number in range(1, count + 1):
            asked.append(number)
            await asyncio.sleep(0)
            if number == fail_at:
                raise RuntimeError(f"page {number} unreadable")
            yield Changes(items=[], next_cursor=None, next_page=number + 1, done=number == count)

    return pages()


async def test_pages_come_in_order_with_one_asked_for_ahead():
    asked: list[int] = []
    written = []
    async for page in _read_ahead(_pages(4, asked)):
        await asyncio.sleep(0.01)  # the write: the next page is asked for meanwhile
        assert max(asked) <= page.next_page  # never more than one ahead
        written.append(page.next_page - 1)
    assert written == [1, 2, 3, 4]
    assert asked == [1, 2, 3, 4]  # nothing asked for after the last page


async def test_a_failed_read_reaches_the_writer_after_the_pages_before_it():
    asked: list[int] = []
    written = []
    with pytest.raises(RuntimeError, match="page 3 unreadable"):
        async for page in _read_ahead(_pages(5, asked, fail_at=3)):
            written.append(page.next_page - 1)
    assert written == [1, 2]


async def test_a_failed_write_leaves_no_read_running():
    asked: list[int] = []
    with pytest.raises(ValueError, match="write failed"):
        async for _page in _read_ahead(_pages(5, asked)):
            raise ValueError("write failed")
    await asyncio.sleep(0.01)
    assert asked == [1, 2]  # the page that was ahead, and no further
