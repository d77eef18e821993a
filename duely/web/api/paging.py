"""The list envelope and paging every API list shares, and what the app answers when the
database refuses a number from a request as out of range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from litestar import Request
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    NotFoundException,
)
from litestar.params import Parameter
from sqlalchemy import func
from sqlalchemy.exc import DataError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from duely.core.db import MAX_BIGINT, MAX_ID

T = TypeVar("T")

MAX_PAGE_SIZE = 500
MAX_PAGE = MAX_BIGINT // MAX_PAGE_SIZE
"""Past this page the rows before it could not be counted (OFFSET is a 64-bit number)."""
OUT_OF_RANGE_SQLSTATE = "22003"
"""PostgreSQL's numeric_value_out_of_range."""


@dataclass
class PageRequest:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def provide_page_request(
    page: int = Parameter(ge=1, le=MAX_PAGE, default=1, description="1-based page number"),
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


def number_out_of_range(request: Request, error: OverflowError | DataError) -> HTTPException:
    """What to answer when the database refuses a number from the request as too large for
    its column (SQLite's driver raises OverflowError past 64 bits, PostgreSQL SQLSTATE 22003
    past an INTEGER id's 32): an id in the path names nothing (404), any other number is bad
    input (400). Registered once for the whole app, this covers every path id, filter and
    page, on both databases with their different limits, where checking each parameter
    would need each route to know its columns' sizes. Any other DataError is a fault (500)."""
    if isinstance(error, DataError) and (
        getattr(error.orig, "sqlstate", None) != OUT_OF_RANGE_SQLSTATE
    ):
        return InternalServerException()
    for value in request.path_params.values():
        if isinstance(value, int) and abs(value) > MAX_ID:
            return NotFoundException(f"Nothing has the id {value}: no id is that large.")
    return ClientException(
        f"A number in this request is out of range: ids go up to {MAX_ID}, other whole "
        f"numbers to {MAX_BIGINT}."
    )
