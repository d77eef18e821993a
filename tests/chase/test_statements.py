"""Monthly statements: the text, the run through the outbox, and the Temporal Schedule."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date

import pytest
from sqlmodel import select
from temporalio.client import ScheduleRange
from temporalio.service import RPCError

from duely.models import Message, Organisation, utcnow
from duely.reminders.rendering import InvoiceLine
from duely.statements.schedule import ensure_statement_schedule, statement_schedule_id
from duely.statements.statement import statement_body
from duely.workflows.statements import StatementRunWorkflow
from tests.chase.conftest import customer_with_contact
from tests.factories import add_invoice


def test_a_statement_lists_what_is_owed_with_totals_per_currency():
    body = statement_body(
        "Northwind Ltd",
        "Sam",
        [
            InvoiceLine("INV-2", date(2026, 11, 30), "GBP", 20_000, 20_000),
            InvoiceLine("INV-1", date(2026, 11, 1), "GBP", 15_000, 12_345),
            InvoiceLine("INV-3", date(2026, 11, 10), "EUR", 9_900, 9_900),
        ],
        "http://127.0.0.1:8000/pay/t",
        "Priya",
        date(2026, 11, 15),
    )
    assert body.startswith("Dear Sam,")
    assert body.index("INV-1") < body.index("INV-3") < body.index("INV-2")  # oldest due first
    assert "14 days overdue" in body and "due 30 November 2026" in body
    assert "Total GBP: GBP 323.45" in body and "Total EUR: EUR 99.00" in body
    assert "http://127.0.0.1:8000/pay/t" in body

    assert "Credit available" not in body and "Net balance" not in body


def test_a_statement_sets_the_customers_credit_against_the_balance_in_its_currency():
    body = statement_body(
        "Northwind Ltd",
        "Sam",
        [
            InvoiceLine("INV-1", date(2026, 11, 1), "GBP", 15_000, 12_345),
            InvoiceLine("INV-3", date(2026, 11, 10), "EUR", 9_900, 9_900),
        ],
        "http://127.0.0.1:8000/pay/t",
        "Priya",
        date(2026, 11, 15),
        credit={"GBP": 2_345, "USD": 1_000},
    )
    assert "Credit available GBP: GBP 23.45" in body
    assert "Net balance GBP: GBP 100.00" in body
    assert "EUR: EUR 99.00" in body and "Credit available EUR" not in body
    assert "USD" not in body  # credit where nothing is due sets nothing off


@pytest.fixture
def live_settings(live_settings, smtp_server):
    """The `live` worker's settings (real time: a second run lands in the same month), with
    the test's mail server."""
    _, smtp_url = smtp_server
    return live_settings.model_copy(update={"smtp_url": smtp_url})


async def test_a_statement_run_sends_one_per_owing_customer_once_a_month(
    live, smtp_server, org_a, db
):
    client, task_queue = live.temporal, live.settings.temporal_task_queue
    catcher, _ = smtp_server
    owing = customer_with_contact(db, org_a.id, "owing")
    add_invoice(db, owing, "INV-S1", 10, amount=12_000)
    add_invoice(db, owing, "INV-S2", -5, amount=3_000, currency="EUR")
    settled = customer_with_contact(db, org_a.id, "settled")
    add_invoice(db, settled, "INV-S3", 10, status="paid")
    opted_out = customer_with_contact(db, org_a.id, "optout", email_opted_out_at=utcnow())
    add_invoice(db, opted_out, "INV-S4", 10)

    for _ in range(2):  # a second run in the same month sends nothing new
        await client.execute_workflow(
            StatementRunWorkflow.run,
            args=[org_a.id, "Europe/London"],
            id=f"statements-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )

    db.expire_all()
    statements = db.exec(select(Message).where(Message.kind == "statement")).all()
    (statement,) = statements
    assert statement.customer_id == owing.id and statement.status == "sent"
    assert "INV-S1" in statement.body and "INV-S2" in statement.body
    (received,) = [r for r in catcher.received if r.recipients == ["sam@owing.test"]]
    assert received.message["Subject"].startswith("Statement of account from Alpha Ltd")


async def test_the_statement_schedule_follows_the_organisation(dev_server_env, settings, db, org_a):
    client = dev_server_env.client
    organisation = db.get(Organisation, org_a.id)
    organisation.statement_day, organisation.timezone = 15, "America/New_York"
    await ensure_statement_schedule(client, settings, organisation)
    handle = client.get_schedule_handle(statement_schedule_id(org_a.id))
    try:
        spec = (await handle.describe()).schedule.spec
        assert spec.time_zone_name == "America/New_York"
        (calendar,) = spec.calendars
        assert list(calendar.day_of_month) == [ScheduleRange(15)]
        assert list(calendar.hour) == [ScheduleRange(9)]

        organisation.statement_day = None
        await ensure_statement_schedule(client, settings, organisation)
        with pytest.raises(RPCError, match="not found"):
            await handle.describe()
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()
