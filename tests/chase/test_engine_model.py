"""A model-based test of the chase and outbox workflows (issue 11): random interleavings of
what people, payments and the ledger do, on the time-skipping server with the real
activities, database and SMTP server, checked against a model after every round.

Each customer is one interleaving: two invoices, and a seeded random sequence of pause,
resume, dispute, resolve, promise, send-now, escalate, stop, email opt-out, card payments
(full, part, one payment for both invoices), due dates moved and invoices paid in the ledger,
with the clock skipping hours or days between rounds and the worker restarted at random.
Customers of one world share the clock and the worker, so many interleavings run at once.

The model knows when each invoice was held (from the instant a person's instruction was
acknowledged), and after every round the test checks:
- nothing was handed over for an invoice while the model holds it;
- at most one scheduled reminder per customer per local day (a person's "send now" aside);
- each step sent was the latest that applied at hand-over (never a stale one);
- after a hold ends, the first two scheduled reminders are not on consecutive days;
and once the world has run its course:
- every card payment is recorded once or unmatched, none left pending;
- one thank-you per payment, never more;
- no chase ended with a payment waiting.

DUELY_MODEL_WORLDS x DUELY_MODEL_CUSTOMERS interleavings run, on SQLite (make test: 1 x 12,
about a minute and a half); the seed is printed, and DUELY_MODEL_SEED replays a failing
run. The figures reported on issue 11 came from DUELY_MODEL_WORLDS=40 DUELY_MODEL_CUSTOMERS=16.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from duely.chase import control as chase_control
from duely.chase.control import Action, NotChasing
from duely.chase.plan import PROMISE_GRACE_DAYS
from duely.chase.state import PaymentNotice
from duely.core.db import Database
from duely.core.temporal import names
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Customer, Event, Invoice, Message, Payment, utcnow
from duely.worker import build_worker
from tests.chase.conftest import LONDON, customer_with_contact, english_org
from tests.conftest import start_time_skipping
from tests.factories import add_invoice

WORLDS = int(os.environ.get("DUELY_MODEL_WORLDS", "1"))
CUSTOMERS = int(os.environ.get("DUELY_MODEL_CUSTOMERS", "12"))
ROUNDS = 10
RESTART_CHANCE = float(os.environ.get("DUELY_MODEL_RESTARTS", "0.2"))
SEED = int(os.environ.get("DUELY_MODEL_SEED", "0")) or random.randrange(1, 10**9)
FOREVER = datetime.max.replace(tzinfo=UTC)
ACTIONS = (
    ("nothing", 30),
    ("pause", 8),
    ("resume", 8),
    ("dispute", 5),
    ("resolve", 5),
    ("promise", 6),
    ("send_now", 6),
    ("escalate", 3),
    ("stop", 2),
    ("opt_out", 2),
    ("pay_full", 3),
    ("pay_part", 4),
    ("pay_both", 2),
    ("move_due", 4),
    ("paid_in_ledger", 2),
)


@dataclass
class Hold:
    kind: str
    start: datetime
    end: datetime = FOREVER


@dataclass
class Modelled:
    """What the model knows of one invoice."""

    invoice: Invoice
    holds: list[Hold] = field(default_factory=list)
    due_moved_at: datetime | None = None
    forced_at: list[datetime] = field(default_factory=list)

    def open(self, kind: str) -> Hold | None:
        return next((h for h in reversed(self.holds) if h.kind == kind and h.end == FOREVER), None)

    def close(self, kind: str, at: datetime) -> None:
        for hold in self.holds:
            if hold.kind == kind and hold.end > at:
                hold.end = max(hold.start, at)

    def held_at(self, moment: datetime, channel: str) -> Hold | None:
        for hold in self.holds:
            if hold.kind == "opt_out" and channel != "email":
                continue
            if hold.start <= moment < hold.end:
                return hold
        return None


@dataclass
class Interleaving:
    customer: Customer
    invoices: list[Modelled]
    steps: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)


class World:
    def __init__(self, number: int, rng: random.Random, settings, db: Session, org_id: int):
        self.number, self.rng, self.settings, self.db, self.org_id = (
            number,
            rng,
            settings,
            db,
            org_id,
        )
        self.people: list[Interleaving] = []
        self.violations: dict[str, list[str]] = {}
        """What went wrong -> the interleaving's steps when it was first seen."""
        self.restarts = 0
        self._plans: dict[int, dict[str, datetime]] = {}

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        english_org(self.db, self.org_id)
        self.env = await start_time_skipping()
        self.database = Database(self.settings.resolved_database_url)
        self.ledgers = Ledgers(self.settings, self.database)
        try:
            people = self._populate(today=(await self.now()).astimezone(LONDON).date())
            self.worker = self._worker()
            await self.worker.__aenter__()
            for person in people:  # rows first: a blocking write would stall the worker
                for modelled in person.invoices:
                    await chase_control.tell_chase(
                        self.client, self.settings.temporal_task_queue, modelled.invoice
                    )
            self.people = people
            for _ in range(ROUNDS):
                for person in self.people:
                    await self._act(person, self._choose())
                if self.rng.random() < RESTART_CHANCE:
                    await self._restart_worker()
                await self._skip(timedelta(hours=self.rng.randint(4, 80)))
                await self.check_sends()
            await self._skip(timedelta(days=60))
            await self.check_sends()
            await self.check_payments()
        finally:
            await self.worker.__aexit__(None, None, None)
            await self.env.shutdown()
            await self.ledgers.aclose()
            await self.database.dispose()

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def _skip(self, span: timedelta) -> None:
        """Let the clock run `span`. The test server skips time only while nothing runs: after
        a worker restart it waits in real time for the activities the old worker held to time
        out, longer than one sleep call may take, so sleep in slices towards a target."""
        target = await self.now() + span
        while (left := target - await self.now()) > timedelta(0):
            try:
                await self.env.sleep(min(left, timedelta(hours=6)))
            except RPCError as error:
                if "Timeout expired" not in str(error):
                    raise

    async def _restart_worker(self) -> None:
        """A deploy: the worker goes (its activities are cancelled mid-flight) and a new one
        takes over."""
        await self.worker.__aexit__(None, None, None)
        self.worker = self._worker()
        await self.worker.__aenter__()
        self.restarts += 1

    def _worker(self):
        # No workflow cache, hence no sticky task queues: Temporal's test server keeps sending
        # a workflow's tasks and queries to the sticky queue of a worker that has gone, where a
        # real server moves them back to the shared queue within seconds. Every task replays
        # its history instead, which is slower but lets the worker restart like a deploy.
        return build_worker(
            self.env.client, self.settings, self.database, self.ledgers, max_cached_workflows=0
        )

    def _populate(self, today: date) -> list[Interleaving]:
        people = []
        for n in range(CUSTOMERS):
            customer = customer_with_contact(self.db, self.org_id, f"w{self.number}c{n}")
            invoices = []
            for letter in "AB":
                invoice = add_invoice(
                    self.db,
                    customer,
                    f"M{self.number}-{n:03d}-{letter}",
                    0,
                    amount=self.rng.choice((12_000, 30_000, 45_000)),
                    due_date=today + timedelta(days=self.rng.randint(-6, 12)),
                )
                invoices.append(Modelled(invoice))
            people.append(Interleaving(customer, invoices))
        return people

    def _choose(self) -> str:
        names_, weights = zip(*ACTIONS, strict=True)
        return self.rng.choices(names_, weights)[0]

    async def _act(self, person: Interleaving, action: str) -> None:
        if action == "nothing":
            return
        target = self.rng.choice(person.invoices)
        person.steps.append(f"{action}:{target.invoice.number}")
        try:
            at = await getattr(self, f"_{action}")(person, target)
        except NotChasing:
            return  # its chase has ended: nothing to tell
        # What the model holds from now on: the instruction has been acknowledged.
        if at is not None:
            person.steps[-1] += f"@{at.isoformat()}"

    async def _tell(self, modelled: Modelled, action: Action, **fields) -> datetime:
        await chase_control.act(self.client, modelled.invoice, action, by="model", **fields)
        return await self.now()

    def _day(self, now: datetime, low: int, high: int) -> date:
        return now.astimezone(LONDON).date() + timedelta(days=self.rng.randint(low, high))

    # --- what people, payments and the ledger do ------------------------------------------

    async def _pause(self, person, m: Modelled) -> datetime:
        until = self._day(await self.now(), 1, 12) if self.rng.random() < 0.7 else None
        at = await self._tell(m, Action.PAUSE, until=until.isoformat() if until else None)
        m.close("pause", at)
        m.holds.append(Hold("pause", at, start_of(until) if until else FOREVER))
        return at

    async def _resume(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.RESUME)
        m.close("pause", at)
        m.close("promise", at)
        return at

    async def _dispute(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.DISPUTE, reason="model")
        if not m.open("dispute"):
            m.holds.append(Hold("dispute", at))
        return at

    async def _resolve(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.RESOLVE_DISPUTE)
        m.close("dispute", at)
        return at

    async def _promise(self, person, m: Modelled) -> datetime:
        day = self._day(await self.now(), 0, 10)
        at = await self._tell(m, Action.PROMISE, until=day.isoformat())
        m.close("promise", at)
        m.holds.append(Hold("promise", at, start_of(day) + timedelta(days=PROMISE_GRACE_DAYS + 1)))
        return at

    async def _send_now(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.SEND_NOW)
        m.forced_at.append(at)
        return at

    async def _escalate(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.ESCALATE)
        m.forced_at.append(at)
        return at

    async def _stop(self, person, m: Modelled) -> datetime:
        at = await self._tell(m, Action.STOP)
        m.holds.append(Hold("stop", at))
        return at

    async def _opt_out(self, person, m: Modelled) -> datetime:
        """The customer unsubscribed from email: the mirror first, then every chase hears."""
        await self.write(
            update(Customer)
            .where(Customer.id == person.customer.id)
            .values(email_opted_out_at=utcnow())
        )
        for each in person.invoices:
            handle = self.client.get_workflow_handle(self._chase_id(each))
            try:
                await handle.signal("chasing_changed")
            except RPCError as error:  # an ended chase cannot hear it: fine
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
        at = await self.now()
        for each in person.invoices:
            each.holds.append(Hold("opt_out", at))
        return at

    async def _pay(self, person: Interleaving, shares: list[tuple[Modelled, int, int]]) -> datetime:
        """A card payment: each invoice's chase is told its share, as the webhook does."""
        payment_id = f"pi_{uuid.uuid4().hex[:16]}"
        person.payments.append(payment_id)
        for modelled, amount, _ in shares:
            notice = PaymentNotice(
                amount=amount,
                currency="GBP",
                source="stripe",
                payment_id=payment_id,
                paid_at=utcnow().isoformat(),
            )
            await chase_control.tell_payment(
                self.client, self.settings.temporal_task_queue, modelled.invoice, notice
            )
        at = await self.now()
        for modelled, amount, owed in shares:
            if amount >= owed:
                modelled.holds.append(Hold("paid", at))
        return at

    async def _pay_full(self, person, m: Modelled) -> datetime | None:
        owed = await self._owed(m)
        return await self._pay(person, [(m, owed, owed)]) if owed > 0 else None

    async def _pay_part(self, person, m: Modelled) -> datetime | None:
        owed = await self._owed(m)
        return await self._pay(person, [(m, owed // 3, owed)]) if owed > 3 else None

    async def _pay_both(self, person, m: Modelled) -> datetime | None:
        shares = [(each, await self._owed(each)) for each in person.invoices]
        shares = [(each, owed, owed) for each, owed in shares if owed > 0]
        return await self._pay(person, shares) if shares else None

    async def _move_due(self, person, m: Modelled) -> datetime:
        due = (await self.read(m)).due_date + timedelta(days=self.rng.choice((-4, 3, 9)))
        await self.write(update(Invoice).where(Invoice.id == m.invoice.id).values(due_date=due))
        invoice = await self.read(m)
        await chase_control.tell_chase(
            self.client, self.settings.temporal_task_queue, invoice, start_new=False
        )
        at = await self.now()
        m.due_moved_at = at
        return at

    async def _paid_in_ledger(self, person, m: Modelled) -> datetime:
        await self.write(
            update(Invoice).where(Invoice.id == m.invoice.id).values(status="paid", amount_due=0)
        )
        invoice = await self.read(m)
        await chase_control.tell_chase(
            self.client, self.settings.temporal_task_queue, invoice, start_new=False
        )
        at = await self.now()
        m.holds.append(Hold("paid", at))
        return at

    async def _owed(self, m: Modelled) -> int:
        invoice = await self.read(m)
        return invoice.amount_due if invoice.status == "open" else 0

    async def read(self, m: Modelled) -> Invoice:
        async with self.database.session() as session:
            return await session.get(Invoice, m.invoice.id)

    async def write(self, statement) -> None:
        """Through the async database, as the app does: a blocking write here would stall
        the worker sharing this event loop while it holds SQLite's lock."""
        async with self.database.session() as session:
            await session.exec(statement)
            await session.commit()

    def _chase_id(self, m: Modelled) -> str:
        return names.chase_workflow_id(self.org_id, m.invoice.id)

    # --- the checks -----------------------------------------------------------------------

    def violation(self, person: Interleaving, text: str) -> None:
        key = f"{person.customer.name}: {text}"
        if key not in self.violations:
            self.violations[key] = list(person.steps) + self._timelines(person)

    def _timelines(self, person: Interleaving) -> list[str]:
        """The invoices' timelines, to see what the engine did."""
        ids = [m.invoice.id for m in person.invoices]
        events = self.db.exec(
            select(Event).where(col(Event.invoice_id).in_(ids)).order_by(Event.occurred_at)
        )
        return [
            f"\n      {e.invoice_id} {e.occurred_at:%a %d %b %H:%M} {e.kind}: {e.detail}"
            for e in events
        ]

    async def check_sends(self) -> None:
        await self._refresh_plans()
        self.db.expire_all()
        for person in self.people:
            messages = list(
                self.db.exec(
                    select(Message)
                    .where(Message.customer_id == person.customer.id, Message.kind == "reminder")
                    .order_by(Message.id)
                )
            )
            handed = [m for m in messages if m.status in ("sent", "open", "uncertain")]
            for message in handed:
                for modelled in person.invoices:
                    if not re.search(
                        rf"\b{re.escape(modelled.invoice.number)}\b", message.body + message.subject
                    ):
                        continue
                    hold = modelled.held_at(message.created_at, message.channel)
                    if hold:
                        self.violation(
                            person,
                            f"message {message.id} ({message.channel}, "
                            f"{message.created_at.isoformat()}) lists "
                            f"{modelled.invoice.number} on hold ({hold.kind} from "
                            f"{hold.start.isoformat()})",
                        )
            days = Counter(
                m.created_at.astimezone(LONDON).date()
                for m in handed
                if m.channel != "call_task" and ":now:" not in m.unique_key
            )
            for day, count in days.items():
                if count > 1:
                    self.violation(person, f"{count} scheduled reminders on {day}")
            for modelled in person.invoices:
                self._check_steps(person, modelled, {m.id: m for m in messages})

    def _check_steps(self, person: Interleaving, modelled: Modelled, messages: dict) -> None:
        """Each step sent was the latest that applied at hand-over; after a hold ended, the
        first two scheduled sends are not on consecutive days."""
        sent_events = list(
            self.db.exec(
                select(Event)
                .where(Event.invoice_id == modelled.invoice.id, Event.kind == "reminder_sent")
                .order_by(Event.id)
            )
        )
        plan = self._plan_of(modelled)
        sent_at: list[tuple[datetime, datetime | None]] = []  # (sent, the step's planned time)
        for event in sent_events:
            message = messages.get(event.message_id)
            if message is None:
                continue
            moment = message.created_at
            sent_at.append((moment, plan.get(event.detail.split(":")[0])))
            if modelled.due_moved_at and moment <= modelled.due_moved_at + timedelta(days=1):
                continue  # planned from a due date that has since moved
            label = event.detail.split(":")[0]
            step = plan.get(label)
            if step is None:
                continue
            later_due = [
                other for other, at in plan.items() if step < at <= moment - timedelta(minutes=2)
            ]
            if later_due:
                self.violation(
                    person,
                    f"{modelled.invoice.number}: {label} sent at {moment.isoformat()} "
                    f"when {later_due} already applied",
                )
        if modelled.forced_at or modelled.due_moved_at:
            return
        for hold in modelled.holds:
            if hold.end == FOREVER:
                continue
            after = [(moment, planned) for moment, planned in sent_at if moment >= hold.end]
            # Only a step that fell due during the hold is "the reminder after the hold".
            if len(after) >= 2 and after[0][1] and after[0][1] < hold.end:
                first, second = (m.astimezone(LONDON).date() for m, _ in after[:2])
                if (second - first).days < 2:
                    self.violation(
                        person,
                        f"{modelled.invoice.number}: after a {hold.kind} ended, "
                        f"reminders on {first} and {second}",
                    )

    def _plan_of(self, modelled: Modelled) -> dict[str, datetime]:
        """Label of each planned send -> when it falls due, from the chase's own view."""
        return self._plans.get(modelled.invoice.id, {})

    async def _refresh_plans(self) -> None:
        for person in self.people:
            for modelled in person.invoices:
                view = await chase_control.view(self.client, modelled.invoice)
                if view is None:
                    continue
                plan = {}
                for send in view.sends:
                    repeat = int(send.key.split(".")[1])
                    label = send.label + (f" (repeat {repeat})" if repeat else "")
                    plan[label] = datetime.fromisoformat(send.at)
                self._plans[modelled.invoice.id] = plan

    async def check_payments(self) -> None:
        self.db.expire_all()
        thanked = Counter()
        for message in self.db.exec(select(Message).where(Message.kind == "thank_you")):
            thanked[message.unique_key.rsplit(":", 1)[-1]] += 1
        for person in self.people:
            for payment_id in person.payments:
                rows = list(self.db.exec(select(Payment).where(Payment.external_id == payment_id)))
                if not rows:
                    self.violation(person, f"payment {payment_id} has no row")
                for row in rows:
                    if row.status not in ("recorded", "unmatched"):
                        self.violation(
                            person, f"payment {payment_id} is {row.status}: {row.last_error}"
                        )
                if thanked[payment_id] > 1:
                    self.violation(
                        person, f"payment {payment_id}: {thanked[payment_id]} thank-yous"
                    )
            for modelled in person.invoices:
                handle = self.client.get_workflow_handle(self._chase_id(modelled))
                status = (await handle.describe()).status
                if status not in (
                    WorkflowExecutionStatus.RUNNING,
                    WorkflowExecutionStatus.COMPLETED,
                ):
                    self.violation(person, f"{modelled.invoice.number}'s chase is {status.name}")


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)


@pytest.mark.timeout(900)
# The engine's rules do not depend on the database, and PostgreSQL runs every other chase test.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("world", range(WORLDS))
async def test_random_interleavings_keep_every_promise(world, settings, db, org_a, smtp_server):
    catcher, smtp_url = smtp_server
    queue = f"model-{uuid.uuid4()}"
    settings = settings.model_copy(update={"smtp_url": smtp_url, "temporal_task_queue": queue})
    rng = random.Random(SEED * 1000 + world)
    model = World(world, rng, settings, db, org_a.id)
    started = time.monotonic()
    print(f"\nmodel world {world}: seed {SEED} (DUELY_MODEL_SEED replays it)")
    await model.run()
    thank_yous = [
        r for r in catcher.received if "Thank you for your payment" in str(r.message["Subject"])
    ]
    payments = sum(len(p.payments) for p in model.people)
    by_subject_body = Counter(r.message.get_body().get_content() for r in thank_yous)
    for body, count in by_subject_body.items():
        if count > 1:
            model.violations[f"a thank-you was delivered {count} times: {body[:80]!r}"] = []
    print(
        f"\nmodel world {world} (seed {SEED}): {len(model.people)} interleavings, "
        f"{sum(len(p.steps) for p in model.people)} actions, {payments} card payments, "
        f"{model.restarts} worker restarts, {len(catcher.received)} emails, "
        f"{len(model.violations)} violations, {time.monotonic() - started:.0f} s"
    )
    found = [f"{text}\n    {' '.join(seen)}" for text, seen in sorted(model.violations.items())]
    assert not found, "\n".join(found[:20])
