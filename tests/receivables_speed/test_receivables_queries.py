"""The receivables pages at 100,000 invoices (issue 17): what the currency menu and the
dashboard read, and which index each list's query takes on SQLite (which plans without
statistics, so a new index elsewhere can quietly send a list back to reading every invoice)."""

from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel.sql.expression import SelectOfScalar

from duely.core.db import Database
from duely.receivables.queries import (
    InvoiceFilters,
    aging_by_currency,
    invoice_currencies,
    invoices_query,
)
from tests.factories import add_customer, add_invoice, today_in

TODAY = date(2026, 12, 6)


async def test_currencies_are_the_organisations_own_of_any_status(settings, db, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme")
    add_invoice(db, acme, "A-1", days_overdue=3, currency="GBP")
    add_invoice(db, acme, "A-2", days_overdue=3, currency="EUR", status="paid")
    add_invoice(db, acme, "A-3", days_overdue=3, currency="JPY", status="voided")
    add_invoice(db, acme, "A-4", days_overdue=9, currency="GBP", status="draft")
    add_invoice(db, add_customer(db, org_b.id, "Bravo"), "B-1", days_overdue=3, currency="USD")
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            assert await invoice_currencies(session, org_a.id) == ["EUR", "GBP", "JPY"]
            assert await invoice_currencies(session, org_b.id) == ["USD"]
            assert await invoice_currencies(session, org_b.id + 1000) == []
    finally:
        await database.dispose()


async def test_aging_counts_open_invoices_per_currency_and_bucket(settings, db, org_a):
    acme = add_customer(db, org_a.id, "Acme")
    for number, overdue, currency in [
        ("1", -5, "GBP"),
        ("2", 0, "GBP"),
        ("3", 10, "GBP"),
        ("4", 10, "GBP"),
        ("5", 95, "EUR"),
    ]:
        add_invoice(db, acme, number, days_overdue=overdue, amount=100, currency=currency)
    add_invoice(db, acme, "paid", days_overdue=10, status="paid")
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            aging = await aging_by_currency(session, org_a.id, today_in())
    finally:
        await database.dispose()
    assert [row.currency for row in aging] == ["EUR", "GBP"]
    eur, gbp = aging
    assert (eur.buckets["90+"].invoices, eur.total.amount_due) == (1, 100)
    assert (gbp.buckets["current"].invoices, gbp.buckets["1-30"].invoices) == (2, 2)
    assert (gbp.total.invoices, gbp.total.amount_due) == (4, 400)


def sqlite_plan(db, statement: SelectOfScalar) -> str:
    """SQLite's plan for `statement` (values are irrelevant: there are no statistics)."""
    compiled = statement.compile(
        dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    values = [params[name] for name in compiled.positiontup or ()]
    values = [v.isoformat() if isinstance(v, date) else v for v in values]
    connection = db.connection()
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(values)).all()
    return "\n".join(row[3] for row in rows)


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (InvoiceFilters(status="open"), "ix_invoices_list_order"),
        (InvoiceFilters(status="open", bucket="31-60"), "ix_invoices_list_order"),
        (InvoiceFilters(status="paid", currency="EUR"), "ix_invoices_list_order"),
        (InvoiceFilters(), "ix_invoices_any_status_order"),
        (InvoiceFilters(bucket="90+"), "ix_invoices_any_status_order"),
        (InvoiceFilters(status="open", customer_id=7), "ix_invoices_customer_order"),
    ],
)
def test_each_invoice_list_reads_its_own_index_without_a_sort(database_url, db, filters, index):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL plans from statistics; this guards SQLite's fixed rules")
    plan = sqlite_plan(db, invoices_query(1, filters, TODAY))
    assert f"USING INDEX {index} " in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_dashboards_aging_and_currencies_read_covering_indexes(database_url, db):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL plans from statistics; this guards SQLite's fixed rules")
    aging = db.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN SELECT currency, due_date, count(*), sum(amount_due) FROM invoices"
        " WHERE organisation_id = 1 AND status = 'open' GROUP BY currency, due_date"
    )
    plan = "\n".join(row[3] for row in aging.all())
    assert "COVERING INDEX ix_invoices_aging" in plan and "TEMP B-TREE" not in plan, plan
    currencies = db.connection().execute(
        text(
            "EXPLAIN QUERY PLAN SELECT min(currency) FROM invoices"
            " WHERE organisation_id = 1 AND currency > 'GBP'"
        )
    )
    plan = "\n".join(row[3] for row in currencies.all())
    assert "COVERING INDEX ix_invoices_currencies" in plan, plan
