"""A customer pays an invoice by card on the payment portal, in Debian's Chromium: `duely web`
as its own process, the demo organisation's Stripe account on a real localstripe, and
localstripe's fake Stripe.js in the page (its card field is four plain inputs: number,
exp_month, exp_year, cvc, and postal_code)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.core.links import PORTAL, LinkTarget, link
from duely.demo import configure_demo_stripe
from duely.models import Customer, Event, Invoice, utcnow
from duely.settings import Settings
from tests.browser.conftest import demo_web, page_at, requires_chromium
from tests.stripe_fake import DECLINED, NEEDS_3DS, SUCCEEDS

pytestmark = requires_chromium

PAID = "Payment received, thank you — your invoices will show as paid in a moment."
# (number, days overdue, amount in minor units, currency)
INVOICES = [
    ("INV-3001", 21, 1_250_00, "GBP"),
    ("INV-3002", 4, 480_50, "GBP"),
    ("INV-3003", 2, 75_00, "GBP"),
    ("INV-3004", -10, 9_999_99, "EUR"),
]


@pytest.fixture
def portal(tmp_path: Path, localstripe, monkeypatch):
    """`duely web` on the demo organisation, paid into its Stripe account on localstripe, and
    the portal link of a customer with the invoices above."""
    monkeypatch.setenv("DUELY_STRIPE_API_BASE", localstripe.api_base)
    found: dict[str, str] = {}

    def arrange(database_url: str, org_id: int) -> None:
        today = utcnow().date()
        # The same secret `duely web` reads from its home (generated here, first).
        secret = Settings(home=tmp_path).resolved_secret_key
        configure_demo_stripe(database_url, secret)
        engine = make_sync_engine(database_url)
        with Session(engine) as session:
            customer = Customer(organisation_id=org_id, external_id="c-card", name="Harbour Cafe")
            session.add(customer)
            session.flush()
            for number, overdue, amount, currency in INVOICES:
                session.add(
                    Invoice(
                        organisation_id=org_id,
                        customer_id=customer.id,
                        external_id=f"x-{number}",
                        number=number,
                        issue_date=today - timedelta(days=overdue + 30),
                        due_date=today - timedelta(days=overdue),
                        currency=currency,
                        total=amount,
                        amount_due=amount,
                    )
                )
            session.commit()
            target = LinkTarget(org_id, customer.id)
        engine.dispose()
        found["database_url"] = database_url
        found["path"] = link("", secret, PORTAL, target)

    for web_url in demo_web(tmp_path, arrange):
        yield web_url, found["path"], found["database_url"]


def card_payments(database_url: str) -> list[tuple[str, str]]:
    engine = make_sync_engine(database_url)
    with Session(engine) as session:
        rows = session.exec(
            select(Invoice.number, Event.detail)
            .join(Invoice, Invoice.id == Event.invoice_id)
            .where(Event.kind == "card_payment")
            .order_by(Event.id)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


async def type_card(page: Page, number: str) -> None:
    """Into localstripe's fake card field, as a customer would type."""
    field = page.locator("[data-card-element]")
    for name, value in (
        ("number", number),
        ("exp_month", "12"),
        ("exp_year", "34"),
        ("cvc", "123"),
        ("postal_code", "SW1A"),
    ):
        await field.locator(f"input[placeholder={name}]").fill(value)


async def test_paying_an_invoice_by_card(portal, localstripe):
    web_url, path, database_url = portal
    async with page_at(f"{web_url}{path}") as page:
        # Stripe.js (here localstripe's fake) mounted its card field into the Pay section.
        await expect(page.locator("[data-card-element] input[placeholder=number]")).to_be_visible()
        pay = page.locator("[data-pay-button]")
        status = page.locator("[data-pay-status]")
        await expect(pay).to_be_disabled()
        await expect(pay).to_have_text("Pay")

        # The button follows the ticks; two currencies at once cannot be one payment.
        await page.locator("label", has_text="INV-3001").click()
        await expect(pay).to_have_text("Pay GBP 1,250.00")
        await expect(pay).to_be_enabled()
        await page.locator("label", has_text="INV-3004").click()
        await expect(pay).to_be_disabled()
        await expect(status).to_contain_text("One payment has one currency")
        await page.locator("label", has_text="INV-3004").click()
        await page.locator("label", has_text="INV-3002").click()
        await expect(pay).to_have_text("Pay GBP 1,730.50")
        await expect(status).to_have_text("")

        await type_card(page, SUCCEEDS)
        await pay.click()
        await expect(status).to_have_text(PAID)
        await expect(pay).to_be_disabled()
        await expect(pay).to_have_text("Paid")
        for box in await page.locator("input[name=invoice]:checked").all():
            await expect(box).to_be_disabled()

    [intent] = localstripe.payment_intents()
    assert (intent["amount"], intent["currency"], intent["status"]) == (173_050, "gbp", "succeeded")
    recorded = card_payments(database_url)
    assert [number for number, _ in recorded] == ["INV-3001", "INV-3002"]
    assert all(intent["id"] in detail for _, detail in recorded)


async def test_a_declined_card_can_try_again_and_3d_secure_is_confirmed(portal, localstripe):
    web_url, path, database_url = portal
    async with page_at(f"{web_url}{path}") as page:
        pay = page.locator("[data-pay-button]")
        status = page.locator("[data-pay-status]")

        # First another answer through htmx, which swaps the whole form: the card field must
        # come back in the new one.
        await page.locator("label", has_text="INV-3004").click()
        await page.get_by_text("I’ll pay on a date").click()
        await page.fill("input[name=until]", (utcnow().date() + timedelta(days=7)).isoformat())
        async with page.expect_response(f"**{path}/promise") as answered:
            await page.get_by_role("button", name="Promise to pay on this date").click()
        response = await answered.value
        assert response.status == 200, await response.text()
        await expect(page.locator(".portal-notice[role=status]")).to_contain_text("promise")
        await expect(page.locator("[data-card-element] input[placeholder=number]")).to_have_count(1)

        await page.locator("label", has_text="INV-3003").click()
        await type_card(page, DECLINED)
        await pay.click()
        await expect(status).to_have_text("Your card was declined.")
        await expect(pay).to_be_enabled()  # they may try again
        assert card_payments(database_url) == []

        # Another card, whose bank wants 3-D Secure: localstripe's fake asks in a modal.
        await type_card(page, NEEDS_3DS)
        await pay.click()
        await page.get_by_role("button", name="Complete authentication").click()
        await expect(status).to_have_text(PAID)
        await expect(pay).to_be_disabled()

    intents = {i["status"]: i for i in localstripe.payment_intents()}
    assert set(intents) == {"requires_payment_method", "succeeded"}  # declined, then paid
    assert intents["succeeded"]["amount"] == 75_00
    [(number, detail)] = card_payments(database_url)
    assert number == "INV-3003" and intents["succeeded"]["id"] in detail
