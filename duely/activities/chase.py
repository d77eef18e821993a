"""Activities of InvoiceChaseWorkflow: read its plan, mirror its state and timeline into the
database, hand due reminders to the customer's outbox, and write promises to the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlmodel import col, select
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from duely.activities.errors import as_application_error
from duely.chase.eligibility import customer_off_reason, invoice_facts
from duely.chase.plan import (
    ChasePlan,
    PlanStep,
    WindowSpec,
    WindowTimes,
    send_times,
)
from duely.chase.state import PromiseToPay
from duely.core.db import Database
from duely.core.temporal import names
from duely.integrations.ledgers.base import LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.models import (
    Connection,
    Customer,
    Event,
    Invoice,
    Organisation,
    ScheduleStep,
    Template,
)
from duely.outbox.opt_outs import channels_opt_out_reason
from duely.outbox.requests import OutboxStart, ReminderRequest
from duely.outbox.send_times import send_windows
from duely.reminders.schedules import schedule_followed
from duely.settings import Settings


@dataclass
class ChaseNote:
    invoice_id: int
    chase_state: str
    workflow_id: str
    events: list[tuple[str, str, str, int | None]]
    """(ISO instant, kind, detail, message id) for the timeline."""
    disputed: bool = False
    stop_chasing: bool = False
    withdraw_from_outbox: bool = False
    """The chase ended while its reminder waited in the customer's outbox: take it out."""


WINDOW_DAYS_AHEAD = 21
"""How far ahead a plan lists the send windows (it is read again whenever the chase wakes)."""


@dataclass
class PlanRequest:
    invoice_id: int
    due_date: str | None = None
    """The due date the chase knows (its signals can be ahead of the database): the sends are
    timed from it."""
    since: str | None = None
    """The chase's clock (ISO): the send windows ahead are listed from it."""


@dataclass
class OutboxHandOver:
    organisation_id: int
    customer_id: int
    request: ReminderRequest
    history_limit: int | None = None
    """The chase's own (ChaseStart.history_limit), for the outbox it starts."""


def step_label(step: ScheduleStep, template_name: str | None) -> str:
    when = (
        "on the due date"
        if step.offset_days == 0
        else f"{abs(step.offset_days)} days {'before' if step.offset_days < 0 else 'after'} due"
    )
    what = template_name or ("Call the customer" if step.channel == "call_task" else "Reminder")
    return f"{what} ({when})"


def window_of(organisation: Organisation, customer: Customer) -> WindowSpec:
    return WindowSpec(
        start=organisation.send_window_start.isoformat("minutes"),
        end=organisation.send_window_end.isoformat("minutes"),
        country=organisation.country,
        timezone=customer.timezone or organisation.timezone,
        subdivision=organisation.subdivision,
        days=organisation.send_days,
    )


async def load_plan(db: Database, invoice_id: int) -> ChasePlan:
    async with db.session() as session:
        invoice = await session.get(Invoice, invoice_id)
        if invoice is None:
            raise ApplicationError(f"invoice {invoice_id} is gone", non_retryable=True)
        customer = await session.get(Customer, invoice.customer_id)
        organisation = await session.get(Organisation, invoice.organisation_id)
        schedule_id = (await schedule_followed(session, customer)).schedule_id
        rows = (
            await session.exec(
                select(ScheduleStep, Template.name)
                .join(Template, isouter=True)
                .where(ScheduleStep.schedule_id == schedule_id)
                .order_by(ScheduleStep.position, ScheduleStep.id)
            )
        ).all()
    off_reason = customer_off_reason(organisation, customer)
    if not off_reason and not invoice.chasing_enabled:
        off_reason = "chasing is switched off for this invoice"
    if not off_reason and not rows:
        off_reason = "the customer's schedule has no steps"
    if not off_reason:
        # Opted out of every channel the schedule uses: nothing is left to send. (Otherwise the
        # outbox leaves out each reminder of an opted-out channel, and says so.)
        off_reason = channels_opt_out_reason(customer, (step.channel for step, _ in rows))
    return ChasePlan(
        organisation_id=organisation.id,
        customer_id=customer.id,
        invoice_id=invoice.id,
        invoice=invoice_facts(invoice),
        window=window_of(organisation, customer),
        steps=[
            PlanStep(
                step_id=step.id,
                label=step_label(step, template_name),
                offset_days=step.offset_days,
                channel=step.channel,
                template_id=step.template_id,
                recipient_kind=step.recipient_kind,
                repeat_every_days=step.repeat_every_days,
                repeat_max_times=step.repeat_max_times,
            )
            for step, template_name in rows
        ],
        off_reason=off_reason,
    )


class ChaseActivities:
    def __init__(self, settings: Settings, db: Database, ledgers: Ledgers) -> None:
        self._settings = settings
        self._db = db
        self._ledgers = ledgers

    @activity.defn
    async def load_chase_plan(self, invoice_id: int) -> ChasePlan:
        return await load_plan(self._db, invoice_id)

    @activity.defn
    async def plan_chase(self, request: PlanRequest) -> ChasePlan:
        """The plan with its send times: the calendar is read here, not in the workflow."""
        plan = await load_plan(self._db, request.invoice_id)
        if request.due_date:
            plan.invoice.due_date = request.due_date
        plan.send_times = send_times(plan)
        if request.since:
            windows = send_windows(
                datetime.fromisoformat(request.since), plan.window.window(), WINDOW_DAYS_AHEAD
            )
            plan.windows = [WindowTimes(o.isoformat(), c.isoformat()) for o, c in windows]
        return plan

    @activity.defn
    async def note_chase(self, note: ChaseNote) -> None:
        """The workflow's state and new timeline lines, mirrored for lists and the timeline.
        Retried as a whole, so the events are keyed by their instant and kind. One writer at
        a time on SQLite: a thousand chases noting at once otherwise met "database is locked"
        when a read in this transaction had to become a write."""
        async with self._db.writing() as session:
            invoice = await session.get(Invoice, note.invoice_id)
            if invoice is None:
                return
            values = {
                "chase_state": note.chase_state,
                "workflow_id": note.workflow_id,
                "disputed": note.disputed,
            }
            if note.stop_chasing:
                values["chasing_enabled"] = False
            await session.exec(update(Invoice).where(Invoice.id == invoice.id).values(**values))
            if note.events:
                instants = [datetime.fromisoformat(at) for at, *_ in note.events]
                written = {
                    (event.occurred_at, event.kind)
                    for event in await session.exec(
                        select(Event).where(
                            Event.invoice_id == invoice.id, col(Event.occurred_at).in_(instants)
                        )
                    )
                }
                session.add_all(
                    Event(
                        organisation_id=invoice.organisation_id,
                        invoice_id=invoice.id,
                        kind=kind,
                        detail=detail,
                        message_id=message_id,
                        occurred_at=datetime.fromisoformat(at),
                    )
                    for at, kind, detail, message_id in note.events
                    if (datetime.fromisoformat(at), kind) not in written
                )
            await session.commit()
        if note.withdraw_from_outbox:
            await self._withdraw(invoice)

    async def _withdraw(self, invoice: Invoice) -> None:
        outbox = activity.client().get_workflow_handle(
            names.outbox_workflow_id(invoice.organisation_id, invoice.customer_id)
        )
        try:
            await outbox.signal("withdraw", invoice.id)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # the outbox has finished: fine
                raise

    @activity.defn
    async def hand_to_outbox(self, handover: OutboxHandOver) -> None:
        """Signal-with-start: the customer's outbox runs while it has reminders to send."""
        await activity.client().start_workflow(
            "CustomerOutboxWorkflow",
            OutboxStart(
                handover.organisation_id,
                handover.customer_id,
                gather_seconds=self._settings.outbox_gather_seconds,
                history_limit=handover.history_limit,
            ),
            id=names.outbox_workflow_id(handover.organisation_id, handover.customer_id),
            task_queue=activity.info().task_queue,
            start_signal="add",
            start_signal_args=[handover.request],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    @activity.defn
    async def promise_in_ledger(self, promise: PromiseToPay) -> None:
        day = date.fromisoformat(promise.day)
        async with self._db.session() as session:
            invoice = await session.get(Invoice, promise.invoice_id)
            connection = (
                await session.get(Connection, invoice.connection_id)
                if invoice.connection_id
                else None
            )
            invoice.expected_payment_date = day
            await session.commit()
        if connection is None:
            return  # a CSV import has no ledger to tell
        try:
            await self._ledgers.open(connection).set_expected_payment_date(invoice.external_id, day)
        except LedgerError as error:
            raise as_application_error(error) from error
