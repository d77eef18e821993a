"""Migration 0005: an opt-out made while one field held both channels carries over to both, on
each backend. (Until then an opt-out stopped everything, so it still does after the upgrade; a
person can clear either one.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.migrate import upgrade
from duely.models import Channel, Customer
from duely.models.base import UTCDateTime
from duely.outbox.opt_outs import channel_opt_out_reason
from tests.conftest import POSTGRES_URL, _pg_admin

OPTED_OUT_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

# The two tables as revision 0004 has them (columns a row must be given).
ORGANISATIONS_0004 = sa.table(
    "organisations",
    *(sa.column(name) for name in ("id", "name", "country", "timezone", "base_currency")),
    sa.column("send_window_start", sa.Time()),
    sa.column("send_window_end", sa.Time()),
    *(sa.column(name) for name in ("chase_mode", "sender_name")),
    sa.column("created_at", UTCDateTime()),
)
CUSTOMERS_0004 = sa.table(
    "customers",
    *(sa.column(name) for name in ("id", "organisation_id", "external_id", "name", "timezone")),
    sa.column("opted_out_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """A database with no schema at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("DUELY_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"duely_migrate_{uuid.uuid4().hex[:10]}"
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_old_opt_out_carries_over_to_both_channels(empty_database_url):
    upgrade(empty_database_url, "0004")
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                ORGANISATIONS_0004.insert().values(
                    id=1,
                    name="Alpha Ltd",
                    country="GB",
                    timezone="Europe/London",
                    base_currency="GBP",
                    send_window_start=time(9),
                    send_window_end=time(17),
                    chase_mode="all",
                    sender_name="",
                    created_at=OPTED_OUT_AT,
                )
            )
            for id_, name, opted_out_at in ((1, "Gone", OPTED_OUT_AT), (2, "Still here", None)):
                connection.execute(
                    CUSTOMERS_0004.insert().values(
                        id=id_,
                        organisation_id=1,
                        external_id=f"c{id_}",
                        name=name,
                        timezone="",
                        opted_out_at=opted_out_at,
                        created_at=OPTED_OUT_AT,
                    )
                )
    finally:
        engine.dispose()

    upgrade(empty_database_url)

    engine = make_sync_engine(empty_database_url)
    try:
        with Session(engine) as session:
            gone, still_here = session.exec(select(Customer).order_by(Customer.id)).all()
    finally:
        engine.dispose()
    assert gone.email_opted_out_at == OPTED_OUT_AT
    assert gone.sms_opted_out_at == OPTED_OUT_AT
    assert channel_opt_out_reason(gone, Channel.EMAIL) and channel_opt_out_reason(gone, "sms")
    assert still_here.email_opted_out_at is None and still_here.sms_opted_out_at is None
