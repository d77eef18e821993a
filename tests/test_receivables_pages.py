"""The invoices and customers pages: filters, paging, htmx fragments, details, scoping, money."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from duely.core.money import format_money
from duely.models import Contact, Customer, Event, Invoice, Organisation, utcnow
from tests.conftest import login
from tests.factories import add_connection, add_credit, add_customer, add_invoice, today_in

HTMX = {"HX-Request": "true", "HX-Target": "invoice-table"}
INVOICE_LINK = re.compile(r'<a href="/invoices/\d+">([^<]+)</a>')
CUSTOMER_LINK = re.compile(r'<td><a href="/customers/\d+">([^<]+)</a></td>')


@pytest.fixture
def ledger(db, org_a):
    """Org A's customers and invoices across every bucket, two currencies and some paid."""
    acme = add_customer(db, org_a.id, "Acme Widgets")
    zed = add_customer(db, org_a.id, "Zed Logistics")
    tokyo = add_customer(db, org_a.id, "Tokyo Trading KK")
    rows = {
        "INV-1": add_invoice(db, acme, "INV-1", days_overdue=-5, amount=123_450),
        "INV-2": add_invoice(db, acme, "INV-2", days_overdue=10, amount=50_000),
        "INV-3": add_invoice(db, zed, "INV-3", days_overdue=45, amount=20_000),
        "INV-4": add_invoice(db, zed, "INV-4", days_overdue=120, amount=7_005),
        "INV-5": add_invoice(db, zed, "INV-5", days_overdue=3, status="paid"),
        "JP-1": add_invoice(db, tokyo, "JP-1", days_overdue=70, amount=1_234_567, currency="JPY"),
    }
    return {"acme": acme, "zed": zed, "tokyo": tokyo, **rows}


def numbers(html: str) -> list[str]:
    return INVOICE_LINK.findall(html)


async def page(client, url: str, headers: dict | None = None) -> str:
    response = await client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.text


# --- the invoices list -----------------------------------------------------------------------


async def test_invoice_filters_narrow_the_list(client, org_a, ledger):
    await login(client, org_a.viewer)

    async def listed(query: str) -> list[str]:
        return numbers(await page(client, f"/invoices?{query}"))

    assert await listed("") == ["INV-4", "JP-1", "INV-3", "INV-2", "INV-1"]  # open, oldest first
    assert await listed("status=all") == ["INV-4", "JP-1", "INV-3", "INV-2", "INV-5", "INV-1"]
    assert await listed("status=paid") == ["INV-5"]
    assert await listed("bucket=current") == ["INV-1"]
    assert await listed("bucket=1-30") == ["INV-2"]
    assert await listed("bucket=1-30&status=all") == ["INV-2", "INV-5"]
    assert await listed("bucket=61-90") == ["JP-1"]
    assert await listed("bucket=90%2B") == ["INV-4"]
    assert await listed(f"customer_id={ledger['acme'].id}") == ["INV-2", "INV-1"]
    assert await listed("currency=JPY") == ["JP-1"]
    assert await listed("q=zed") == ["INV-4", "INV-3"]
    assert await listed("q=%20inv-2%20") == ["INV-2"]
    assert await listed("q=zed&bucket=31-60") == ["INV-3"]
    # What a no-JavaScript form submits (empty selects) is "any"; junk falls back, not a 400.
    empty = "status=open&bucket=&customer_id=&currency=&q="
    assert await listed(empty) == ["INV-4", "JP-1", "INV-3", "INV-2", "INV-1"]
    assert await listed("status=bogus&bucket=someday&customer_id=x&page=-3") == await listed("")
    absurd = "customer_id=99999999999999999999999&page=99999999999999999999999"
    assert await listed(absurd) == await listed("")


async def test_invoice_table_shows_aging_money_and_state(client, org_a, ledger):
    await login(client, org_a.viewer)
    html = await page(client, "/invoices?status=all")
    row = re.search(r"<tr>\s*<td><a href=\"/invoices/\d+\">INV-3</a>.*?</tr>", html, re.S)
    assert row, html
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[0])]
    assert cells[1] == "Zed Logistics"
    assert cells[4:] == ["45", "31–60 days", "GBP 200.00", "open", "not started"]
    paid = re.search(r"INV-5</a>.*?</tr>", html, re.S)[0]
    assert "1–30" not in paid and "paid" in paid  # a paid invoice is not overdue
    assert "JPY 1,234,567" in html and "GBP 1,234.50" in html and "GBP 70.05" in html


async def test_filter_form_echoes_the_applied_filters(client, org_a, ledger):
    await login(client, org_a.viewer)
    html = await page(client, f"/invoices?bucket=31-60&q=zed&customer_id={ledger['zed'].id}")
    assert '<option value="31-60" selected>' in html
    assert f'<option value="{ledger["zed"].id}" selected>Zed Logistics</option>' in html
    assert 'name="q" value="zed"' in html
    assert 'hx-push-url="true"' in html and 'method="get" action="/invoices"' in html


async def test_invoices_page_by_fifty(client, db, org_a):
    customer = add_customer(db, org_a.id, "Bulk Buyer")
    for index in range(120):
        db.add(
            Invoice(
                organisation_id=org_a.id,
                customer_id=customer.id,
                external_id=f"bulk-{index}",
                number=f"B-{index:03d}",
                issue_date=date(2026, 1, 1),
                due_date=today_in() - timedelta(days=200 - index),
                currency="GBP",
                total=100,
                amount_due=100,
            )
        )
    db.commit()
    await login(client, org_a.viewer)

    first = await page(client, "/invoices")
    assert numbers(first) == [f"B-{i:03d}" for i in range(50)]
    assert "Showing 1–50 of 120" in first
    assert 'href="/invoices?page=2" rel="next"' in first and 'rel="prev"' not in first

    last = await page(client, "/invoices?page=3")
    assert numbers(last) == [f"B-{i:03d}" for i in range(100, 120)]
    assert "Showing 101–120 of 120" in last
    assert 'href="/invoices?page=2" rel="prev"' in last and 'rel="next"' not in last

    assert numbers(await page(client, "/invoices?page=99")) == numbers(last)
    filtered = await page(client, "/invoices?q=B-&page=2")
    assert "Showing 51–100 of 120" in filtered
    assert 'href="/invoices?q=B-&amp;page=3"' in filtered  # paging keeps the filters


async def test_htmx_gets_only_the_table_and_the_url_to_push(client, org_a, ledger):
    await login(client, org_a.viewer)
    response = await client.get(
        "/invoices?status=open&bucket=31-60&customer_id=&currency=&q=zed", headers=HTMX
    )
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<div id="invoice-table"')
    assert "<html" not in html and "<form" not in html and "<nav>" not in html
    assert numbers(html) == ["INV-3"]
    assert response.headers["HX-Push-Url"] == "/invoices?bucket=31-60&q=zed"
    assert "HX-Request" in response.headers["Vary"]

    full = await client.get("/invoices?bucket=31-60")
    assert "<html" in full.text and 'id="invoice-table"' in full.text

    # Going back to a page htmx no longer has cached must get the whole page.
    restore = await client.get(
        "/invoices?bucket=31-60", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text


async def test_invoice_empty_states_say_what_to_do(client, db, org_a):
    await login(client, org_a.viewer)
    nothing = await page(client, "/invoices")
    assert "Connect your accounting system" in nothing
    add_invoice(db, add_customer(db, org_a.id, "Acme"), "INV-1", days_overdue=1)
    none_match = await page(client, "/invoices?q=nomatch", headers=HTMX)
    assert "No invoices match these filters." in none_match
    assert 'href="/invoices">Clear the filters' in none_match


# --- one invoice -----------------------------------------------------------------------------


async def test_invoice_page_shows_details_and_timeline_newest_first(client, db, org_a, ledger):
    invoice = ledger["INV-3"]
    invoice.expected_payment_date = date(2026, 12, 24)
    invoice.disputed = True
    invoice.chase_state = "waiting_for_step"
    db.add(invoice)
    start = datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("UTC"))
    for hours, kind, detail in [
        (0, "synced", "Imported from Xero"),
        (48, "reminder_sent", "First reminder to ap@zed.example"),
        (24, "viewed", "Opened the payment page"),
    ]:
        db.add(
            Event(
                organisation_id=org_a.id,
                invoice_id=invoice.id,
                kind=kind,
                detail=detail,
                occurred_at=start + timedelta(hours=hours),
            )
        )
    db.commit()
    await login(client, org_a.viewer)

    html = await page(client, f"/invoices/{invoice.id}")
    assert "<h1>Invoice INV-3" in html
    assert f'<a href="/customers/{ledger["zed"].id}">Zed Logistics</a>' in html
    assert "1 Jan 2026" in html and "24 Dec 2026" in html
    assert "GBP 200.00" in html and "45 days overdue" in html
    assert "waiting for step" in html and "disputed" in html
    kinds = re.findall(r"<strong>([a-z ]+)</strong>", html.split("Timeline", 1)[1])
    assert kinds == ["reminder sent", "viewed", "synced"]
    assert "3 Mar 2026, 09:30" in html  # shown in the organisation's zone (London, GMT then)
    # The Chase card: this app has no Temporal, so it shows the mirrored state, and a viewer
    # gets no controls (tests/test_chase_controls.py covers the live card).
    card = html.split('id="chase"', 1)[1].split("<h2>Timeline", 1)[0]
    assert "Live state unavailable" in card and "waiting for step" in card
    assert "<button" not in card


async def test_invoice_without_events_explains_its_timeline(client, org_a, ledger):
    await login(client, org_a.viewer)
    html = await page(client, f"/invoices/{ledger['INV-1'].id}")
    assert "Nothing has happened on this invoice yet" in html


# --- customers -------------------------------------------------------------------------------


async def test_customer_list_shows_balances_per_currency(client, db, org_a, ledger):
    add_invoice(db, ledger["tokyo"], "TK-GBP", days_overdue=5, amount=99_999)
    add_customer(db, org_a.id, "Quiet Customer", chasing_enabled=False, email_opted_out_at=utcnow())
    await login(client, org_a.viewer)

    html = await page(client, "/customers")
    assert CUSTOMER_LINK.findall(html) == [
        "Acme Widgets",
        "Quiet Customer",
        "Tokyo Trading KK",
        "Zed Logistics",
    ]

    def row(name: str) -> list[str]:
        found = re.search(rf">{name}</a></td>(.*?)</tr>", html, re.S)[1]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", found, re.S)
        return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]

    assert row("Acme Widgets") == ["2", "GBP 1,734.50", "10 days", "on", "no"]
    assert row("Zed Logistics") == ["2", "GBP 270.05", "120 days", "on", "no"]
    assert row("Tokyo Trading KK") == ["2", "GBP 999.99 JPY 1,234,567", "70 days", "on", "no"]
    quiet = row("Quiet Customer")
    assert quiet[:4] == ["0", "—", "—", "off"] and quiet[4] != "no"

    searched = await client.get("/customers?q=tok", headers={"HX-Request": "true"})
    assert searched.text.lstrip().startswith('<div id="customer-table"')
    assert CUSTOMER_LINK.findall(searched.text) == ["Tokyo Trading KK"]
    assert searched.headers["HX-Push-Url"] == "/customers?q=tok"
    assert "No customers match" in await page(client, "/customers?q=nobody")


async def test_customers_page_by_fifty(client, db, org_a):
    for index in range(55):
        db.add(Customer(organisation_id=org_a.id, external_id=f"c{index}", name=f"C{index:02d}"))
    db.commit()
    await login(client, org_a.viewer)
    second = await page(client, "/customers?page=2")
    assert CUSTOMER_LINK.findall(second) == [f"C{i:02d}" for i in range(50, 55)]
    assert "Showing 51–55 of 55" in second and 'href="/customers" rel="prev"' in second


async def test_customers_empty_state_asks_to_connect(client, org_a):
    await login(client, org_a.viewer)
    assert "Connect your accounting system to see customers" in await page(client, "/customers")


async def test_customer_page_shows_contacts_and_open_invoices(client, db, org_a, ledger):
    zed = ledger["zed"]
    db.add(
        Contact(
            organisation_id=org_a.id,
            customer_id=zed.id,
            first_name="Ada",
            last_name="Payables",
            email="ap@zed.example",
            phone="+44 20 7946 0000",
        )
    )
    db.add(
        Contact(
            organisation_id=org_a.id,
            customer_id=zed.id,
            first_name="Boss",
            email="cfo@zed.example",
            kind="escalated",
        )
    )
    db.commit()
    await login(client, org_a.viewer)

    html = await page(client, f"/customers/{zed.id}")
    assert "<h1>Zed Logistics</h1>" in html
    assert "Ada Payables" in html and "ap@zed.example" in html and "+44 20 7946 0000" in html
    assert "cfo@zed.example" in html and "kind-escalated" in html
    assert numbers(html) == ["INV-4", "INV-3"]  # open ones only; the paid INV-5 is not listed
    assert "GBP 270.05" in html and "120 days" in html
    assert 'id="invoice-table"' in html

    acme = await page(client, f"/customers/{ledger['acme'].id}")
    assert "No contacts." in acme


async def test_customer_page_shows_credit_and_what_is_owed_net_of_it(client, db, org_a, ledger):
    zed = ledger["zed"]
    books = add_connection(db, org_a.id, "Zed Books")
    add_credit(db, zed, books, 7_005, number="CN-0042")
    await login(client, org_a.viewer)

    html = await page(client, f"/customers/{zed.id}")

    assert "GBP 70.05" in html and "credit note CN-0042" in html
    net = html.split("<dt>Net of credit</dt>", 1)[1].split("</dd>", 1)[0]
    assert "GBP 200.00" in net  # GBP 270.05 outstanding, less the credit


async def test_customer_page_without_credit_shows_no_credit_lines(client, db, org_a, ledger):
    await login(client, org_a.viewer)
    html = await page(client, f"/customers/{ledger['zed'].id}")
    assert "Net of credit" not in html


# --- scoping and roles -----------------------------------------------------------------------


async def test_another_organisations_rows_are_not_found(client, db, org_a, org_b, ledger):
    theirs = add_customer(db, org_b.id, "Bravo Secret Customer")
    their_invoice = add_invoice(db, theirs, "BRAVO-1", days_overdue=40)
    await login(client, org_a.admin)

    for url in (f"/invoices/{their_invoice.id}", f"/customers/{theirs.id}"):
        response = await client.get(url)
        assert response.status_code == 404
        assert "Not found" in response.text and "Bravo Secret" not in response.text

    listed = await page(client, "/invoices?status=all")
    assert "BRAVO-1" not in listed and "Bravo Secret" not in listed
    assert numbers(await page(client, f"/invoices?customer_id={theirs.id}")) == []
    assert "Bravo Secret" not in await page(client, f"/invoices?customer_id={theirs.id}")
    assert "Bravo Secret" not in await page(client, "/customers?q=bravo")
    assert "BRAVO" not in await page(client, "/")


async def test_pages_need_a_sign_in(client, org_a):
    for url in ("/invoices", "/customers", "/invoices/1", "/customers/1"):
        response = await client.get(url, follow_redirects=False)
        assert response.status_code in (302, 303, 307), url
        assert response.headers["location"] == f"/login?next={url}"


# --- money and the dashboard -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (123_450, "GBP", "GBP 1,234.50"),
        (5, "GBP", "GBP 0.05"),
        (0, "GBP", "GBP 0.00"),
        (-1_999, "EUR", "EUR -19.99"),
        (100_000_000_00, "USD", "USD 100,000,000.00"),
        (1_234_567, "JPY", "JPY 1,234,567"),
        (5, "JPY", "JPY 5"),
        (1_234_567, "KWD", "KWD 1,234.567"),
    ],
)
def test_money_is_shown_in_the_currencys_own_decimals(amount, currency, shown):
    assert format_money(amount, currency) == shown


async def test_home_shows_aging_totals_per_currency(client, db, org_a, ledger):
    acme = ledger["acme"]
    add_invoice(db, acme, "INV-6", days_overdue=30, amount=1_000)  # 1-30's last day
    add_invoice(db, acme, "INV-7", days_overdue=31, amount=2_000)  # 31-60's first day
    add_invoice(db, acme, "INV-8", days_overdue=90, amount=4_000, status="voided")
    add_invoice(db, ledger["tokyo"], "JP-2", days_overdue=0, amount=500, currency="JPY")
    await login(client, org_a.viewer)
    html = await page(client, "/")

    cells = {
        (currency, bucket): " ".join(re.sub(r"<[^>]+>", " ", body).split())
        for bucket, currency, body in re.findall(
            r'data-bucket="([^"]+)" data-currency="([A-Z]{3})">(.*?)</td>', html, re.S
        )
    }
    assert cells == {
        ("GBP", "current"): "GBP 1,234.50 1 invoice",
        ("GBP", "1-30"): "GBP 510.00 2 invoices",
        ("GBP", "31-60"): "GBP 220.00 2 invoices",
        ("GBP", "61-90"): "—",
        ("GBP", "90+"): "GBP 70.05 1 invoice",
        ("GBP", "total"): "GBP 2,034.55 6 invoices",
        ("JPY", "current"): "JPY 500 1 invoice",
        ("JPY", "1-30"): "—",
        ("JPY", "31-60"): "—",
        ("JPY", "61-90"): "JPY 1,234,567 1 invoice",
        ("JPY", "90+"): "—",
        ("JPY", "total"): "JPY 1,235,067 2 invoices",
    }
    assert 'href="/invoices?bucket=31-60&amp;currency=GBP"' in html
    assert 'href="/invoices?bucket=90%2B&amp;currency=GBP"' in html
    linked = await page(client, "/invoices?bucket=31-60&currency=GBP")
    assert numbers(linked) == ["INV-3", "INV-7"]


async def test_aging_counts_days_in_the_organisations_time_zone(client, db, org_a):
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are always on different dates.
    organisation = db.get(Organisation, org_a.id)
    organisation.timezone = "Pacific/Kiritimati"
    db.add(organisation)
    db.commit()
    customer = add_customer(db, org_a.id, "Island Co")
    kiritimati_today = today_in(ZoneInfo("Pacific/Kiritimati"))
    pago_today = today_in(ZoneInfo("Pacific/Pago_Pago"))
    add_invoice(db, customer, "DUE-HERE", 0, due_date=kiritimati_today)
    add_invoice(db, customer, "DUE-BEHIND", 0, due_date=pago_today)
    await login(client, org_a.viewer)
    assert numbers(await page(client, "/invoices?bucket=current")) == ["DUE-HERE"]
    assert numbers(await page(client, "/invoices?bucket=1-30")) == ["DUE-BEHIND"]
