"""Delivery claims a message before sending it: two attempts on one message (two chases
thanking for one payment, an activity retried while its first attempt still talks to a slow
mail server) send it once, and a hand-over that a dead worker left behind becomes "uncertain"
only once its claim has lapsed. Real SMTP (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duely.activities.payments import PaymentActivities, PaymentShare
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.mail import Mailer
from duely.integrations.sms import TwilioSms
from duely.models import (
    Contact,
    Message,
    MessageStatus,
    Organisation,
    Payment,
    PaymentSource,
    PaymentStatus,
    utcnow,
)
from duely.outbox import delivery as delivery_module
from duely.outbox.delivery import Delivery
from tests.factories import add_customer, add_invoice
from tests.waiting import eventually

IN_PROGRESS = "DeliveryInProgress"
"""The ApplicationError type of an attempt that found another attempt sending the message."""


@pytest_asyncio.fixture
async def databases(settings) -> AsyncIterator[list[Database]]:
    """Two engines on the test database, as two workers would have."""
    engines = [Database(settings.resolved_database_url) for _ in range(2)]
    yield engines
    for engine in engines:
        await engine.dispose()


def delivery(settings, database: Database, smtp_url: str) -> Delivery:
    return Delivery(settings, database, Mailer(smtp_url), TwilioSms.from_settings(settings))


@pytest.fixture
def queued(db, org_a) -> Message:
    customer = add_customer(db, org_a.id, "Paid Twice Ltd")
    message = Message(
        organisation_id=org_a.id,
        customer_id=customer.id,
        kind="thank_you",
        unique_key=f"thanks:{org_a.id}:1",
        recipients="ap@paid-twice.test",
        subject="Thank you for your payment",
        body="Thank you for paying INV-1 and INV-2.",
    )
    db.add(message)
    db.commit()
    return message


async def read(database: Database, message_id: int) -> Message:
    async with database.session() as session:
        return await session.get(Message, message_id)


def in_progress(outcome) -> bool:
    return isinstance(outcome, ApplicationError) and outcome.type == IN_PROGRESS


async def test_two_delivery_attempts_of_one_message_send_it_once(
    settings, databases, smtp_server, db, org_a, queued
):
    catcher, smtp_url = smtp_server
    catcher.delay = 1  # a slow server: the second attempt arrives while the first is sending
    organisation = db.get(Organisation, org_a.id)
    attempts = [delivery(settings, database, smtp_url) for database in databases]
    # Each attempt read the row itself, before either had claimed it: both see it queued.
    rows = [await read(database, queued.id) for database in databases]
    assert all(row.status == MessageStatus.QUEUED for row in rows)

    outcomes = await asyncio.gather(
        *(attempt.deliver(row, organisation) for attempt, row in zip(attempts, rows, strict=True)),
        return_exceptions=True,
    )

    assert len(catcher.received) == 1
    sent = [o for o in outcomes if isinstance(o, Message)]
    assert sent and all(o.status == MessageStatus.SENT for o in sent), outcomes
    others = [o for o in outcomes if not isinstance(o, Message)]
    assert all(in_progress(o) for o in others), outcomes
    for other in others:  # Temporal retries it once the first attempt's claim would be over
        assert timedelta(0) < other.next_retry_delay <= delivery_module.DELIVERY_LEASE * 2
    row = await read(databases[0], queued.id)
    assert (row.status, row.attempts, row.claimed_until) == (MessageStatus.SENT, 1, None)

    # The retry of the attempt that lost finds the message sent and sends nothing.
    again = await attempts[1].deliver(rows[1], organisation)
    assert again.status == MessageStatus.SENT
    assert len(catcher.received) == 1


async def test_the_claim_outlives_a_mail_server_slower_than_the_lease(
    settings, databases, smtp_server, db, org_a, queued, monkeypatch
):
    """The sending attempt renews its claim while the server holds the DATA: an attempt that
    comes after the first lease would have lapsed still finds it in progress, not uncertain."""
    # Renewed every quarter second, a lease of 3 s survives a stall of the test's loop of up to
    # 2.75 s (with 1 s, a loaded machine's 0.75 s stall failed it once, 7 December).
    monkeypatch.setattr(delivery_module, "DELIVERY_LEASE", timedelta(seconds=3))
    monkeypatch.setattr(delivery_module, "RENEW_EVERY", timedelta(seconds=0.25))
    catcher, smtp_url = smtp_server
    catcher.delay = 6
    organisation = db.get(Organisation, org_a.id)
    first, second = (delivery(settings, database, smtp_url) for database in databases)
    sending = asyncio.create_task(first.deliver(await read(databases[0], queued.id), organisation))

    # The mail server runs in its own thread.
    await eventually(lambda: catcher.received, "nothing reached the mail server", 10, every=0.05)
    # Letting time pass is the point: past the first lease, only renewals keep the claim alive.
    await asyncio.sleep(3.5)
    stale = await read(databases[1], queued.id)
    assert stale.status == MessageStatus.HANDING_OVER
    assert stale.claimed_until > utcnow()
    with pytest.raises(ApplicationError) as raised:
        await second.deliver(stale, organisation)
    assert raised.value.type == IN_PROGRESS

    assert (await sending).status == MessageStatus.SENT
    assert len(catcher.received) == 1


@pytest.mark.parametrize("claim", ["expired", "none"])
async def test_a_hand_over_whose_claim_lapsed_becomes_uncertain(
    settings, databases, smtp_server, db, org_a, queued, claim
):
    """A worker died mid-hand-over (its claim lapsed, or it predates claims): the retry marks
    the message uncertain and never sends it again."""
    catcher, smtp_url = smtp_server
    queued.status = MessageStatus.HANDING_OVER
    queued.attempts = 1
    queued.claimed_until = utcnow() - timedelta(seconds=1) if claim == "expired" else None
    db.commit()

    row = await delivery(settings, databases[0], smtp_url).deliver(
        await read(databases[0], queued.id), db.get(Organisation, org_a.id)
    )

    assert row.status == MessageStatus.UNCERTAIN
    assert "may have been delivered" in row.error
    assert (row.attempts, row.claimed_until) == (1, None)
    assert catcher.received == []


async def test_a_hand_over_with_a_live_claim_is_left_to_its_attempt(
    settings, databases, smtp_server, db, org_a, queued
):
    """Another attempt is still handing it over: not uncertain, retry after its claim."""
    catcher, smtp_url = smtp_server
    queued.status = MessageStatus.HANDING_OVER
    queued.attempts = 1
    queued.claimed_until = utcnow() + timedelta(seconds=20)
    db.commit()

    with pytest.raises(ApplicationError) as raised:
        await delivery(settings, databases[0], smtp_url).deliver(
            await read(databases[0], queued.id), db.get(Organisation, org_a.id)
        )

    assert raised.value.type == IN_PROGRESS
    assert timedelta(seconds=15) < raised.value.next_retry_delay <= timedelta(seconds=22)
    row = await read(databases[0], queued.id)
    assert (row.status, row.attempts) == (MessageStatus.HANDING_OVER, 1)
    assert catcher.received == []


async def test_a_refusal_releases_the_claim_for_the_next_retry(
    settings, databases, smtp_server, db, org_a, queued
):
    """A mail server that is busy (421): the message is queued again with no claim, so
    Temporal's retry sends it at once."""
    catcher, smtp_url = smtp_server
    catcher.refuse = True
    attempt = delivery(settings, databases[0], smtp_url)
    organisation = db.get(Organisation, org_a.id)

    with pytest.raises(ApplicationError) as raised:
        await attempt.deliver(await read(databases[0], queued.id), organisation)
    assert raised.value.type == "DeliveryUnavailable"
    row = await read(databases[0], queued.id)
    assert (row.status, row.attempts, row.claimed_until) == (MessageStatus.QUEUED, 1, None)

    catcher.refuse = False
    row = await attempt.deliver(row, organisation)
    assert (row.status, row.attempts) == (MessageStatus.SENT, 2)
    assert len(catcher.received) == 1


async def test_a_part_payment_in_yen_is_thanked_in_whole_yen(settings, smtp_server, db, org_a):
    """The thank-you says what was paid and what remains as a person reads the currency:
    yen have no minor unit (it once said "JPY 5,000.00")."""
    catcher, smtp_url = smtp_server
    customer = add_customer(db, org_a.id, "Kyoto Trading")
    db.add(Contact(organisation_id=org_a.id, customer_id=customer.id, email="ap@kyoto.test"))
    invoice = add_invoice(db, customer, "JP-7", 0, amount=12_000, currency="JPY")
    invoice.amount_due = 7_000
    db.add(
        Payment(
            organisation_id=org_a.id,
            invoice_id=invoice.id,
            invoice_ref=str(invoice.id),
            customer_id=customer.id,
            amount=5_000,
            currency="JPY",
            source=PaymentSource.STRIPE,
            external_id="pi_yen",
            status=PaymentStatus.RECORDED,
        )
    )
    db.commit()
    database = Database(settings.resolved_database_url)
    try:
        activities = PaymentActivities(
            settings, database, Ledgers(settings, database), delivery(settings, database, smtp_url)
        )
        share = PaymentShare(org_a.id, invoice.id, "pi_yen", 5_000, "JPY", utcnow().isoformat())
        await ActivityEnvironment().run(activities.thank_for_payment, share)
    finally:
        await database.dispose()

    (thanks,) = catcher.received
    body = thanks.message.get_body(("plain",)).get_content()
    assert "Thank you for your payment of JPY 5,000 for JP-7." in body
    assert "JPY 7,000 remains due on JP-7." in body
