"""The receivables overview a finance team lands on."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import func
from sqlmodel import select

from duely.models import Connection, Customer
from duely.receivables.aging import BUCKET_NAMES
from duely.receivables.queries import aging_by_currency, organisation_today
from duely.web.deps import DbSession, get_organisation
from duely.web.pages.receivables import formatters


@get("/", name="home")
async def home(request: Request, db_session: DbSession) -> Template:
    org_id = request.user.organisation_id
    organisation = await get_organisation(db_session, org_id)
    customers = (
        await db_session.exec(
            select(func.count()).select_from(Customer).where(Customer.organisation_id == org_id)
        )
    ).one()
    connections = (
        await db_session.exec(select(Connection).where(Connection.organisation_id == org_id))
    ).all()
    return Template(
        "home.html",
        context={
            **formatters(organisation),
            "organisation": organisation,
            "aging": await aging_by_currency(db_session, org_id, organisation_today(organisation)),
            "buckets": BUCKET_NAMES,
            "customer_count": customers,
            "connections": connections,
        },
    )
