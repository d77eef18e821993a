"""Migration 0009: timeline lines written before it are marked dealt with, so the first
ledger-notes round does not post months of old chases into every connected ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.migrate import upgrade
from duely.models import Event
from duely.models.base import UTCDateTime
from tests.test_opt_outs_migration import (  # noqa: F401 - a fixture, and 0004's organisations
    ORGANISATIONS_0004,
    empty_database_url,
)

WRITTEN_AT = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
# The rows as revision 0008 has them (the columns a row must be given), written without the
# models, which know later columns.
CUSTOMERS_0008 = sa.table(
    "customers",
    *(sa.column(name) for name in ("id", "organisation_id", "external_id", "name", "timezone")),
    sa.column("created_at", UTCDateTime()),
)
INVOICES_0008 = sa.table(
    "invoices",
    *(
        sa.column(name)
        for name in [
            "id",
            "organisation_id",
            "customer_id",
            "external_id",
            "number",
            "currency",
            "total",
            "amount_due",
            "status",
            "disputed",
            "chasing_enabled",
            "chase_state",
            "workflow_id",
        ]
    ),
    sa.column("issue_date", sa.Date()),
    sa.column("due_date", sa.Date()),
    sa.column("created_at", UTCDateTime()),
)
EVENTS_0008 = sa.table(
    "events",
    *(sa.column(name) for name in ("organisation_id", "invoice_id", "kind", "detail")),
    sa.column("occurred_at", UTCDateTime()),
)


def test_lines_written_before_the_migration_are_not_written_to_the_ledger(
    empty_database_url,  # noqa: F811 - the fixture imported above
):
    upgrade(empty_database_url, "0008")
    engine = make_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                ORGANISATIONS_0004.insert().values(
                    id=1,
                    name="Before Ltd",
                    country="GB",
                    timezone="Europe/London",
                    base_currency="GBP",
                    send_window_start=time(9),
                    send_window_end=time(17),
                    chase_mode="all",
                    sender_name="",
                    created_at=WRITTEN_AT,
                )
            )
            connection.execute(
                CUSTOMERS_0008.insert().values(
                    id=1, organisation_id=1, external_id="c1", name="Old", timezone="",
                    created_at=WRITTEN_AT,
                )
            )  # fmt: skip
            connection.execute(
                INVOICES_0008.insert().values(
                    id=1,
                    organisation_id=1,
                    customer_id=1,
                    external_id="ext-INV-OLD",
                    number="INV-OLD",
                    currency="GBP",
                    total=10_000,
                    amount_due=10_000,
                    status="open",
                    disputed=False,
                    chasing_enabled=True,
                    chase_state="",
                    workflow_id="",
                    issue_date=date(2026, 10, 1),
                    due_date=date(2026, 11, 1),
                    created_at=WRITTEN_AT,
                )
            )
            connection.execute(
                EVENTS_0008.insert().values(
                    organisation_id=1,
                    invoice_id=1,
                    kind="reminder_sent",
                    detail="First reminder: emailed",
                    occurred_at=WRITTEN_AT,
                )
            )
    finally:
        engine.dispose()

    upgrade(empty_database_url)

    engine = make_sync_engine(empty_database_url)
    try:
        with Session(engine) as session:
            (old,) = session.exec(select(Event)).all()
            assert old.ledger_noted_at == WRITTEN_AT
            session.add(Event(organisation_id=1, invoice_id=1, kind="paused"))
            session.commit()
            new = session.exec(select(Event).where(Event.kind == "paused")).one()
            assert new.ledger_noted_at is None  # written after it: for the next round
    finally:
        engine.dispose()
