"""Migration 0009: timeline lines written before it are marked dealt with, so the first
ledger-notes round does not post months of old chases into every connected ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.migrate import upgrade
from duely.models import Event
from duely.models.base import UTCDateTime
from tests.conftest import make_org
from tests.factories import add_customer, add_invoice
from tests.test_opt_outs_migration import empty_database_url  # noqa: F401 - a fixture

WRITTEN_AT = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
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
        with Session(engine) as session:
            org = make_org(session, "before")
            invoice = add_invoice(session, add_customer(session, org.id, "old"), "INV-OLD", 30)
            invoice_id = invoice.id
            session.execute(
                EVENTS_0008.insert().values(
                    organisation_id=org.id,
                    invoice_id=invoice_id,
                    kind="reminder_sent",
                    detail="First reminder: emailed",
                    occurred_at=WRITTEN_AT,
                )
            )
            session.commit()
    finally:
        engine.dispose()

    upgrade(empty_database_url)

    engine = make_sync_engine(empty_database_url)
    try:
        with Session(engine) as session:
            (old,) = session.exec(select(Event)).all()
            assert old.ledger_noted_at == WRITTEN_AT
            session.add(Event(organisation_id=org.id, invoice_id=invoice_id, kind="paused"))
            session.commit()
            new = session.exec(select(Event).where(Event.kind == "paused")).one()
            assert new.ledger_noted_at is None  # written after it: for the next round
    finally:
        engine.dispose()
