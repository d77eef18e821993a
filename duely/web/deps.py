"""Request-scoped dependencies and the organisation scope every lookup goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Organisation

Row = TypeVar("Row", bound=SQLModel)

DbSession = NamedDependency[AsyncSession]
"""Handler parameter `db_session: DbSession`: the request's database session."""


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db.session() as session:
        yield session


async def get_owned(session: AsyncSession, model: type[Row], row_id: int, org_id: int) -> Row:
    """Load a row of the caller's organisation; any other organisation's row is a plain 404."""
    row = await session.get(model, row_id)
    if row is None or getattr(row, "organisation_id", None) != org_id:
        raise NotFoundException(f"No {model.__name__.lower()} {row_id}.")
    return row


async def get_organisation(session: AsyncSession, org_id: int) -> Organisation:
    organisation = await session.get(Organisation, org_id)
    if organisation is None:
        raise NotFoundException("Organisation not found.")
    return organisation
