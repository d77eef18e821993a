"""Paging for the server-rendered lists (invoices, customers, outbox, payments).

Every list page reads a forgiving `?page=` from the query string, shows PAGE_SIZE rows, clamps a
page past the end to the last one, and renders the same pager under its table
(partials/receivables_pager.html); this keeps that logic in one place so the pages agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from duely.web.api.paging import PageRequest, fetch_page

PAGE_SIZE = 50


def page_number(raw: str | None) -> int:
    """A positive whole number (at most 12 digits) from a query string; anything else is 1."""
    raw = (raw or "").strip()
    if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 12:
        return max(int(raw), 1)
    return 1


def _last_page(total: int) -> int:
    """The number of the last page of `total` rows; an empty list still has page 1."""
    return max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)


@dataclass(frozen=True)
class Pager:
    """Where a page of rows sits in the whole list, and the links to its neighbours."""

    page: int
    page_size: int
    total: int
    prev_url: str | None
    next_url: str | None
    target: str | None
    """Id of the element htmx swaps when following the links; None for plain links."""

    @property
    def first(self) -> int:
        return min((self.page - 1) * self.page_size + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.page * self.page_size, self.total)


def pager(page: int, total: int, url: Callable[[int], str], target: str | None) -> Pager:
    """The pager for `page` of `total` rows; `url(n)` is the list's address for page n."""
    return Pager(
        page=page,
        page_size=PAGE_SIZE,
        total=total,
        prev_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < _last_page(total) else None,
        target=target,
    )


async def fetch_shown_page(
    session: AsyncSession, statement: SelectOfScalar, page: int
) -> tuple[list, int, int]:
    """Rows of `page`, the total, and the page shown: a page past the end shows the last."""
    rows, total = await fetch_page(session, statement, PageRequest(page, PAGE_SIZE))
    final = _last_page(total)
    if page > final:
        page = final
        rows, total = await fetch_page(session, statement, PageRequest(page, PAGE_SIZE))
    return rows, total, page
