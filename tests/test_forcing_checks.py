"""What "send next now" and "escalate now" are told at once, before anything reaches the chase
(duely.web.chase.why_not_now), from the chase's own view."""

from __future__ import annotations

from dataclasses import replace

from duely.chase.state import ChaseState, ChaseView, PlannedSendView
from duely.core.db import Database
from duely.web.chase import why_not_now
from tests.chase.conftest import customer_with_contact
from tests.factories import add_invoice


def view_of(invoice, sends: list[PlannedSendView]) -> ChaseView:
    return ChaseView(
        state=ChaseState.SCHEDULED, reason="", next_send_at=None, next_step="",
        paused_until=None, disputed=False, promised_until=None,
        amount_due=invoice.amount_due, currency=invoice.currency,
        due_date=invoice.due_date.isoformat(), sends=sends, history=[],
    )  # fmt: skip


async def test_send_now_to_a_chase_not_planned_yet_is_taken_not_refused_as_all_sent(
    settings, db, org_a
):
    """A sync starts each chase with the invoice's facts; until the chase has read its plan it
    lists no sends. "Send next now" meanwhile was refused with "every step of the schedule has
    gone out already" (CI, 7 December: two seconds after a sync), which was false: the chase
    takes the instruction once its plan is read. A chase whose steps did all go out is still
    told so."""
    customer = customer_with_contact(db, org_a.id, "fresh")
    invoice = add_invoice(db, customer, "INV-FRESH", -30)
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            assert await why_not_now(session, invoice, customer, view_of(invoice, [])) == ""
            done = PlannedSendView("1", "First reminder", "email", "2026-12-01T09:00:00", "done")
            all_sent = view_of(invoice, [done])
            refused = await why_not_now(session, invoice, customer, all_sent)
            assert refused == "Nothing was sent: every step of the schedule has gone out already."
            planned = replace(done, status="planned")
            assert await why_not_now(session, invoice, customer, view_of(invoice, [planned])) == ""
    finally:
        await database.dispose()
