# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""Getting paid, end to end, with nothing stood in for: a reminder goes out over real SMTP,
its payment link opens the customer's portal on duely's web app, the customer pays by card on
localstripe, localstripe signs and posts the webhook to duely, and the invoice's chase on a
real worker records the payment in the Xero sandbox.

The card is turned into a payment method id the way localstripe's Stripe.js does it
(`/v1/tokens`); tests/browser/test_card_payment_in_browser.py drives the page's script itself.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest
from sqlmodel import select

from duely.core.security import SecretBox
from duely.core.temporal import names
from duely.integrations.payments.stripe import StripeGateway
from duely.models import Invoice, Organisation, Payment, WebhookEvent
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.payments.stripe_accounts import stripe_account_of
from duely.workflows.stripe_sweep import StripeSweepWorkflow
from tests.conftest import api_token, csrf_from
from tests.stripe_fake import DECLINED, SUCCEEDS
from tests.stripe_webhooks import WEBHOOK_SECRET
from tests.waiting import eventually
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    connected_tenant,
    open_invoices,
    synced,
)

PAYMENT_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/pay/[^\s\"'<>]+)")
FEW_SECONDS = 20
"""From the customer's click to the payment in Xero: localstripe alone waits about a second
before it posts the webhook."""


@pytest.fixture
def xero_settings(xero_settings, smtp_server, localstripe):
    """The web app's and the worker's settings: real SMTP, localstripe as Stripe."""
    _, smtp_url = smtp_server
    return xero_settings.model_copy(
        update={
            "smtp_url": smtp_url,
            "outbox_gather_seconds": 1,
            "stripe_api_base": localstripe.api_base,
            "stripe_js_url": localstripe.js_url,
        }
    )


@pytest.fixture
def chasing_settings(xero_settings):
    return xero_settings


@pytest.fixture
def takes_cards(db, org_a, xero_settings, localstripe):
    """Org A's own Stripe account is on localstripe; card payments are booked to the
    sandbox's clearing account 615."""
    box = SecretBox(xero_settings.resolved_secret_key)
    db.commit()
    organisation = db.get(Organisation, org_a.id)
    organisation.stripe_secret_key_encrypted = box.encrypt(localstripe.secret_key)
    organisation.stripe_publishable_key = localstripe.publishable_key
    organisation.stripe_webhook_secret_encrypted = box.encrypt(WEBHOOK_SECRET)
    organisation.payment_accounts = "*=615"
    db.commit()


@pytest.fixture
def webhooks_to_duely(takes_cards, localstripe, duely):
    """localstripe posts the account's events to duely's webhook, signed."""
    localstripe.register_webhook(f"{duely.base_url}/webhooks/stripe", WEBHOOK_SECRET)


def mentions(received, invoice: Invoice) -> list:
    return [r for r in received if invoice.number in r.message.get_body(("plain",)).get_content()]


def payments_in_xero(tenant, invoice: Invoice) -> list:
    return [p for p in tenant.payments.values() if p.invoice_id == invoice.external_id]


async def test_a_reminders_link_is_paid_by_card_and_lands_once_in_xero(
    webhooks_to_duely, worker, synced, duely, dev_server_env, smtp_server, localstripe, db, org_a
):
    tenant, _ = synced
    catcher, _ = smtp_server
    invoice = open_invoices(db)[0]
    due, number = invoice.amount_due, invoice.number
    staff = await api_token(duely, org_a.collector)

    # A collector sends the next reminder now; it arrives by SMTP with the payment link.
    sent = await duely.post(f"/api/v1/invoices/{invoice.id}/actions/send-now", headers=staff)
    assert sent.status_code == 202, sent.text

    async def reminded():
        return mentions(catcher.received, invoice)

    (reminder,) = await eventually(reminded, "the reminder never reached the mail server")
    link = PAYMENT_LINK.search(reminder.message.get_body(("plain",)).get_content()).group(1)

    async with httpx.AsyncClient(timeout=30) as customer:
        page = await customer.get(link)
        assert page.status_code == 200, page.text
        assert number in page.text and f'data-publishable-key="{localstripe.publishable_key}"'
        csrf = {"x-csrftoken": csrf_from(page.text)}

        # A declined card changes nothing: no payment anywhere, the chase goes on.
        declined = await customer.post(
            f"{link}/card",
            json={"invoices": [invoice.id], "payment_method": localstripe.card(DECLINED)},
            headers=csrf,
        )
        assert declined.status_code == 402, declined.text

        def failure_heard() -> WebhookEvent | None:  # localstripe posts it a second later
            db.expire_all()
            failed = WebhookEvent.event_type == "payment_intent.payment_failed"
            row = db.exec(select(WebhookEvent).where(failed)).first()
            return row if row and row.processed_at else None

        await eventually(failure_heard, "duely never took in the card's failure", FEW_SECONDS)
        assert db.exec(select(Payment)).all() == []
        assert payments_in_xero(tenant, invoice) == []
        assert db.get(Invoice, invoice.id).status == "open"
        handle = dev_server_env.client.get_workflow_handle(
            names.chase_workflow_id(org_a.id, invoice.id)
        )
        assert (await handle.describe()).status.name == "RUNNING"

        paid = await customer.post(
            f"{link}/card",
            json={"invoices": [invoice.id], "payment_method": localstripe.card(SUCCEEDS)},
            headers=csrf,
        )
        clicked, calls_before = time.monotonic(), len(worker.requests)
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "succeeded"

    # Within a few seconds, exactly one payment for the whole amount is in Xero.
    async def booked_in_xero():
        return payments_in_xero(tenant, invoice)

    (booked,) = await eventually(
        booked_in_xero, "the payment never reached Xero", seconds=FEW_SECONDS, every=0.05
    )
    print(f"card payment to Xero payment: {time.monotonic() - clicked:.2f}s")
    assert (booked.amount, booked.currency) == (due, invoice.currency)
    assert booked.reference == f"duely:{paid.json()['payment_intent']}:{invoice.id}"
    assert tenant.invoices[invoice.external_id].status == "PAID"
    # Three calls of the tenant's 60 a minute: read the invoice, look for the payment, write.
    placing = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in worker.requests[calls_before:]]
    # (A sync that Xero's webhook about the payment sets off may follow them.)
    assert placing[:3] == [("GET", "Invoices"), ("GET", "Payments"), ("PUT", "Payments")]
    assert placing.count(("PUT", "Payments")) == 1

    # The chase completed as paid; duely shows the invoice paid, the payment recorded.
    assert await asyncio.wait_for(handle.result(), FEW_SECONDS) == "paid"
    shown = (await duely.get(f"/api/v1/invoices/{invoice.id}", headers=staff)).json()
    assert (shown["status"], shown["amount_due"]) == ("paid", 0), shown
    db.expire_all()
    (payment,) = db.exec(select(Payment)).all()
    assert (payment.invoice_id, payment.status, payment.amount) == (invoice.id, "recorded", due)

    # No further reminder: nothing is left to send one, and asking for one is refused.
    again = await duely.post(f"/api/v1/invoices/{invoice.id}/actions/send-now", headers=staff)
    assert again.status_code == 409, again.text
    # Letting time pass is the point: more than the outbox's gathering second, so that a
    # reminder sent despite the payment would be here by now.
    await asyncio.sleep(2)
    later = [r for r in mentions(catcher.received, invoice) if r is not reminder]
    thanks = f"Thank you for your payment to {db.get(Organisation, org_a.id).name}"
    assert [r.message["Subject"] for r in later] == [thanks]
    assert len(payments_in_xero(tenant, invoice)) == 1


async def test_a_payment_whose_webhook_never_came_is_found_by_the_sweep(
    takes_cards, worker, synced, dev_server_env, xero_settings, localstripe, db, org_a
):
    """No webhook is registered: the payment is only in Stripe's Events API, which the
    periodic sweep reads, once."""
    tenant, _ = synced
    invoice = open_invoices(db)[0]
    account = stripe_account_of(xero_settings, db.get(Organisation, org_a.id))
    async with StripeGateway(account) as stripe:
        paid = await stripe.pay(
            amount=invoice.amount_due,
            currency=invoice.currency,
            payment_method=localstripe.card(SUCCEEDS),
            metadata=to_metadata(
                Allocation(org_a.id, invoice.customer_id, (Share(invoice.id, invoice.amount_due),))
            ),
            idempotency_key=f"sweep-test-{invoice.id}",
        )
    assert paid.status == "succeeded"
    db.expire_all()
    assert db.exec(select(Payment)).all() == []

    async def sweep() -> int:
        return await dev_server_env.client.execute_workflow(
            StripeSweepWorkflow.run,
            id=f"sweep-{uuid.uuid4().hex}",
            task_queue=xero_settings.temporal_task_queue,
        )

    assert await sweep() == 1
    handle = dev_server_env.client.get_workflow_handle(
        names.chase_workflow_id(org_a.id, invoice.id)
    )
    assert await asyncio.wait_for(handle.result(), FEW_SECONDS) == "paid"
    (booked,) = payments_in_xero(tenant, invoice)
    assert booked.reference == f"duely:{paid.id}:{invoice.id}"
    assert await sweep() == 0  # taken in already
    assert len(payments_in_xero(tenant, invoice)) == 1
