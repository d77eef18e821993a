"""The schema: migrations match the models on every backend; money and time keep their meaning."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import StatementError
from sqlmodel import SQLModel

from duely.core.db import make_sync_engine
from duely.migrate import upgrade
from duely.models import Customer, Invoice, Organisation


def test_migrations_produce_exactly_the_models(settings):
    engine = make_sync_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert drift == [], "models changed without a migration: run duely.migrate.autogenerate"


def test_migrating_again_is_a_no_op(settings):
    upgrade(settings.resolved_database_url)


def test_money_is_integer_minor_units_beyond_32_bits(db, org_a):
    customer = Customer(organisation_id=org_a.id, external_id="c1", name="Big Spender")
    db.add(customer)
    db.commit()
    huge = 3_000_000_000_00  # three billion in minor units
    invoice = Invoice(
        organisation_id=org_a.id,
        customer_id=customer.id,
        external_id="i1",
        issue_date=date(2026, 1, 1),
        due_date=date(2026, 2, 1),
        currency="JPY",
        total=huge,
        amount_due=huge,
    )
    db.add(invoice)
    db.commit()
    db.expire_all()
    stored = db.get(Invoice, invoice.id)
    assert stored.amount_due == huge and isinstance(stored.amount_due, int)


def test_timestamps_come_back_as_aware_utc(db):
    auckland = timezone(timedelta(hours=13))
    organisation = Organisation(name="Kiwi", created_at=datetime(2026, 1, 1, 9, 0, tzinfo=auckland))
    db.add(organisation)
    db.commit()
    db.expire_all()
    stored = db.get(Organisation, organisation.id)
    assert stored.created_at == datetime(2025, 12, 31, 20, 0, tzinfo=UTC)
    assert stored.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(db):
    db.add(Organisation(name="Naive", created_at=datetime(2026, 1, 1, 9, 0)))
    with pytest.raises(StatementError, match="naive datetime refused"):
        db.commit()
    db.rollback()
