"""A finance person's path through the invoices list in a real browser, on a phone and a desktop.

Runs `duely web` as its own process on a seeded ledger and drives Debian's Chromium.
"""

from datetime import date, timedelta

import pytest
from playwright.async_api import async_playwright, expect
from sqlmodel import Session

from duely.core.db import make_sync_engine
from duely.models import Contact, Customer, Invoice, utcnow
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    csp_violations,
    demo_web,
    requires_chromium,
    sign_in_on_the_way_to,
)

pytestmark = requires_chromium

CUSTOMERS = [
    "Acme Widgets Ltd",
    "Brightside Bakeries",
    "Northwind Traders",
    "Zed Logistics",
    "Kyoto Components KK",
]
# (customer index, days overdue, amount in minor units, currency)
INVOICES = [
    (0, -12, 1_250_00, "GBP"),
    (0, 5, 480_00, "GBP"),
    (0, 38, 12_900_50, "GBP"),
    (1, 2, 75_20, "GBP"),
    (1, 44, 310_00, "GBP"),
    (1, 95, 2_000_00, "GBP"),
    (2, -3, 8_420_00, "EUR"),
    (2, 33, 1_115_00, "EUR"),
    (2, 64, 640_00, "GBP"),
    (3, 41, 5_600_00, "GBP"),
    (3, 52, 230_75, "GBP"),
    (3, 130, 19_999_99, "GBP"),
    (4, 15, 1_850_000, "JPY"),
    (4, 47, 320_000, "JPY"),
]


def _seed_ledger(database_url: str, org_id: int) -> None:
    today = utcnow().date()
    engine = make_sync_engine(database_url)
    with Session(engine) as session:
        customers = []
        for index, name in enumerate(CUSTOMERS):
            customer = Customer(organisation_id=org_id, external_id=f"c{index}", name=name)
            session.add(customer)
            session.flush()
            customers.append(customer)
            session.add(
                Contact(
                    organisation_id=org_id,
                    customer_id=customer.id,
                    first_name="Accounts",
                    last_name="Payable",
                    email=f"ap@{name.split()[0].lower()}.example",
                )
            )
        for number, (who, overdue, amount, currency) in enumerate(INVOICES, start=1001):
            due = today - timedelta(days=overdue)
            session.add(
                Invoice(
                    organisation_id=org_id,
                    customer_id=customers[who].id,
                    external_id=f"i{number}",
                    number=f"INV-{number}",
                    issue_date=max(due - timedelta(days=30), date(2025, 1, 1)),
                    due_date=due,
                    currency=currency,
                    total=amount,
                    amount_due=amount,
                )
            )
        session.commit()
    engine.dispose()


@pytest.fixture
def web_url(tmp_path):
    yield from demo_web(tmp_path, _seed_ledger)


async def test_filter_and_search_invoices_on_a_phone(web_url, tmp_path):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        violations = csp_violations(page)
        await sign_in_on_the_way_to(page, web_url, "/invoices")

        rows = page.locator("#invoice-table tbody tr")
        await expect(rows).to_have_count(len(INVOICES))
        await expect(page.locator(".pager [role=status]")).to_have_text("Showing 1–14 of 14")

        async with page.expect_response("**/invoices?*bucket=31-60*") as filtered:
            await page.select_option("select[name=bucket]", "31-60")
        assert (await filtered.value).request.headers.get("hx-request") == "true"
        await expect(rows).to_have_count(6)
        await expect(page).to_have_url(f"{web_url}/invoices?bucket=31-60")
        for number in await page.locator(
            "#invoice-table tbody tr td:first-child"
        ).all_inner_texts():
            assert number in {f"INV-{n}" for n in (1003, 1005, 1008, 1010, 1011, 1014)}

        await page.locator("input[name=q]").press_sequentially("zed", delay=40)
        await expect(page).to_have_url(f"{web_url}/invoices?bucket=31-60&q=zed")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text("Zed Logistics")
        await expect(page.locator("input[name=q]")).to_be_focused()  # typing was not interrupted

        # The table scrolls inside its card rather than widening the page.
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        await page.screenshot(path=str(tmp_path / "invoices-phone.png"), full_page=True)
        assert widths[0] <= widths[1], widths

        # The filtered view is a real URL: reloading or sharing it shows the same rows.
        await page.reload()
        await expect(rows).to_have_count(2)
        await expect(page.locator("select[name=bucket]")).to_have_value("31-60")
        await expect(page.locator("input[name=q]")).to_have_value("zed")

        await page.go_back()
        await expect(page).to_have_url(f"{web_url}/invoices?bucket=31-60")
        await expect(rows).to_have_count(6)

        await rows.first.locator("a").first.click()
        await expect(page.locator("h1")).to_contain_text("INV-10")
        # The Chase card: this server has no Temporal, so it says so (and keeps the page).
        await expect(page.locator("#chase")).to_contain_text("Live state unavailable")
        await page.screenshot(path=str(tmp_path / "invoice-phone.png"), full_page=True)
        await page.click(".facts a")  # the invoice's customer
        await expect(page.locator("h1")).to_have_text("Zed Logistics")
        await expect(page.locator("#invoice-table tbody tr")).to_have_count(3)
        await expect(page.locator("text=ap@zed.example")).to_be_visible()
        await page.screenshot(path=str(tmp_path / "customer-phone.png"), full_page=True)

        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.goto(f"{web_url}/invoices")
        await page.screenshot(path=str(tmp_path / "invoices-desktop.png"), full_page=True)
        await page.goto(f"{web_url}/customers")
        await expect(page.locator("#customer-table tbody tr")).to_have_count(len(CUSTOMERS))
        await page.screenshot(path=str(tmp_path / "customers-desktop.png"), full_page=True)
        await page.goto(f"{web_url}/")
        await expect(page.locator("#aging")).to_contain_text("Over 90 days")
        await page.screenshot(path=str(tmp_path / "home-desktop.png"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(tmp_path / "home-phone.png"), full_page=True)
        assert violations == []  # htmx and the pages work under the real policy
        await browser.close()
