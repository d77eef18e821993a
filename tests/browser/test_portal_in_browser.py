"""A customer on a phone opens the payment link from a reminder, ticks an invoice and promises
to pay on a date. Runs `duely web` as its own process (with Temporal out of reach, so the
promise is kept on the invoice's timeline) and drives Debian's Chromium."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.core.links import PORTAL, LinkTarget, link
from duely.models import Customer, Event, Invoice, utcnow
from duely.settings import Settings
from tests.browser.conftest import demo_web, page_at, requires_chromium

pytestmark = requires_chromium

PHONE = {"width": 390, "height": 844}
# (number, days overdue, amount in minor units, currency)
INVOICES = [
    ("INV-2001", 21, 1_250_00, "GBP"),
    ("INV-2002", 4, 480_50, "GBP"),
    ("INV-2003", -10, 9_999_99, "EUR"),
]


@pytest.fixture
def portal(tmp_path: Path):
    """`duely web` on the demo organisation, and the portal link of a customer in it."""
    found: dict[str, str] = {}

    def arrange(database_url: str, org_id: int) -> None:
        today = utcnow().date()
        engine = make_sync_engine(database_url)
        with Session(engine) as session:
            customer = Customer(
                organisation_id=org_id, external_id="c-portal", name="Brightside Bakeries"
            )
            session.add(customer)
            session.flush()
            for number, overdue, amount, currency in INVOICES:
                session.add(
                    Invoice(
                        organisation_id=org_id,
                        customer_id=customer.id,
                        external_id=f"x-{number}",
                        number=number,
                        reference=f"PO {number[-2:]} for the new ovens, second delivery",
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
        # The same secret `duely web` reads from its home (generated here, first).
        secret = Settings(home=tmp_path).resolved_secret_key
        found["database_url"] = database_url
        found["path"] = link("", secret, PORTAL, target)

    for web_url in demo_web(tmp_path, arrange):
        yield web_url, found["path"], found["database_url"]


def _events(database_url: str) -> list[tuple[str, str, str]]:
    engine = make_sync_engine(database_url)
    with Session(engine) as session:
        rows = session.exec(
            select(Invoice.number, Event.kind, Event.detail).join(
                Invoice, Invoice.id == Event.invoice_id
            )
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


async def test_promise_to_pay_on_a_phone(portal):
    web_url, path, database_url = portal
    async with page_at(f"{web_url}{path}", PHONE) as page:
        await expect(page.locator(".brand")).to_have_text("Demo Trading Ltd")
        await expect(page.locator("h1")).to_have_text("Brightside Bakeries")
        rows = page.locator(".portal-table tbody tr")
        await expect(rows).to_have_count(len(INVOICES))
        await expect(rows.first).to_contain_text("21 days overdue")
        await expect(page.locator(".portal-totals")).to_contain_text("GBP 1,730.50")
        await expect(page.locator(".portal-totals")).to_contain_text("EUR 9,999.99")
        # Nothing wider than the phone: the invoices stack instead of overflowing.
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await expect(page.get_by_role("button", name="Pay by card")).to_be_disabled()

        # Ticking shows what is selected, per currency; "All" ticks every invoice.
        summary = page.locator("[data-selection-summary]")
        await page.get_by_label("Select all invoices").check()
        await expect(summary).to_have_text("3 invoices ticked: EUR 9,999.99 and GBP 1,730.50")
        await page.get_by_label("Select all invoices").uncheck()
        await expect(summary).to_have_text("No invoices ticked yet.")
        await page.locator("label", has_text="INV-2002").click()
        await expect(summary).to_have_text("1 invoice ticked: GBP 480.50")

        await page.get_by_text("I’ll pay on a date").click()
        promised: date = utcnow().date() + timedelta(days=10)
        await page.fill("input[name=until]", promised.isoformat())
        async with page.expect_response(f"**{path}/promise") as answered:
            await page.get_by_role("button", name="Promise to pay on this date").click()
        response = await answered.value
        assert response.request.headers.get("hx-request") == "true"
        assert response.status == 200
        notice = page.locator(".portal-notice[role=status]")
        await expect(notice).to_contain_text("has your promise to pay INV-2002 by")
        await expect(notice).to_be_in_viewport()
        await expect(page).to_have_url(f"{web_url}{path}")  # the page stayed, htmx swapped
        await expect(page.locator("input[name=invoice]:checked")).to_have_count(0)

    kept = _events(database_url)
    assert [(number, kind) for number, kind, _ in kept] == [("INV-2002", "customer_promised")]
    assert promised.isoformat() in kept[0][2]
