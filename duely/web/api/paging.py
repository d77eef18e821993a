"""The list envelope and paging every API list shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from litestar.params import Parameter
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

T = TypeVar("T")

MAX_PAGE_SIZE = 500


@dataclass
class PageRequest:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def provide_page_request(
    page: int = Parameter(ge=1, default=1, description="1-based page number"),
    page_size: int = Parameter(ge=1, le=MAX_PAGE_SIZE, default=50, description="rows per page"),
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


async def fetch_page(
    session: AsyncSession, statement: SelectOfScalar, paging: PageRequest
) -> tuple[list, int]:
    """One page of `statement`'s rows and the total count of all its rows."""
    total = (
        await session.exec(select(func.count()).select_from(statement.order_by(None).subquery()))
    ).one()
    rows = (await session.exec(statement.offset(paging.offset).limit(paging.page_size))).all()
    return list(rows), total
