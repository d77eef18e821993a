"""`/pay/{token}`: the customer payment portal. Public (the signed link is the credential),
scoped to the link's customer, CSRF-protected, and never a 500 or another customer's data.

Card payment is in tests/test_portal_card.py (here the organisation takes no cards, so the Pay
section only says so); these tests cover the page,
the invoice PDFs (through the Xero sandbox on a socket), and the customer's answers: "I have
already paid", a promise to pay and a dispute, which reach a real chase workflow on the dev
server, and are kept on the invoice's timeline when Temporal is out of reach.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from duely.chase import control as chase_control
from duely.core.links import PORTAL, UNSUBSCRIBE, LinkTarget, make_token
from duely.models import Customer, Event, Invoice, Organisation
from duely.sandbox.xero.faults import FaultRule
from duely.settings import Settings
from duely.web.app import create_app
from tests.conftest import csrf_from
from tests.factories import add_connection, add_credit, add_customer, add_invoice, today_in
from tests.live import add_open_invoice, open_invoice
from tests.serving import browse
from tests.waiting import eventually
from tests.xero.conftest import connect_directly, xero, xero_url  # noqa: F401

HTMX = {"HX-Request": "true"}


def token_for(settings, customer: Customer, purpose: str = PORTAL, **kwargs) -> str:
    target = LinkTarget(customer.organisation_id, customer.id)
    return make_token(settings.resolved_secret_key, purpose, target, **kwargs)


def other_than(character: str) -> str:
    return "B" if character == "A" else "A"


def events(db, invoice: Invoice) -> list[Event]:
    db.expire_all()
    return list(db.exec(select(Event).where(Event.invoice_id == invoice.id).order_by(Event.id)))


def listed_numbers(html: str) -> list[str]:
    return re.findall(r'<label for="pick-\d+" class="number">([^<]+)</label>', html)


def server_log(caplog) -> str:
    """What duely and Litestar logged (the test's own HTTP client logs its URLs)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("duely", "litestar"))
    )


def form_of(html: str) -> str:
    return html.split('<form id="portal-form"', 1)[1].split("</form>", 1)[0]


async def open_portal(client, url: str) -> str:
    """Open the page as a customer would (which sets the CSRF cookie); returns its token."""
    page = await client.get(url)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


# --- the page ----------------------------------------------------------------------------------


async def test_the_page_lists_only_the_customers_outstanding_invoices(
    client, db, settings, org_a, org_b
):
    organisation = db.get(Organisation, org_a.id)
    organisation.sender_name, organisation.sender_email = "Alpha Accounts", "accounts@alpha.test"
    db.commit()
    acme = add_customer(db, org_a.id, "Acme Widgets")
    mine = [
        add_invoice(db, acme, "INV-1", 12, amount=123_450, reference="PO-77"),
        add_invoice(db, acme, "INV-2", 1, amount=50_000),
        add_invoice(db, acme, "INV-3", -5, amount=10_005),
        add_invoice(db, acme, "EU-1", 40, amount=99_999, currency="EUR"),
        add_invoice(db, acme, "JP-1", 0, amount=1_234_567, currency="JPY"),
    ]
    add_invoice(db, acme, "PAID-1", 30, status="paid")
    add_invoice(db, acme, "VOID-1", 30, status="voided")
    add_invoice(db, acme, "DRAFT-1", 30, status="draft")
    add_invoice(db, acme, "ZERO-1", 30, amount=0)
    other = add_customer(db, org_a.id, "Other Customer")
    add_invoice(db, other, "OTHER-1", 10, amount=777_777)
    stranger = add_customer(db, org_b.id, "Stranger Ltd")
    add_invoice(db, stranger, "BRAVO-1", 10, amount=888_888)

    token = token_for(settings, acme)
    page = await client.get(f"/pay/{token}")
    assert page.status_code == 200
    html = page.text
    assert sorted(listed_numbers(html)) == sorted(invoice.number for invoice in mine)
    assert listed_numbers(html)[0] == "EU-1"  # the oldest due first
    for absent in ("PAID-1", "VOID-1", "DRAFT-1", "ZERO-1", "OTHER-1", "BRAVO-1", "Stranger"):
        assert absent not in html
    # Branding and contact, the customer's name.
    assert "Alpha Ltd" in html and "Acme Widgets" in html
    assert "Alpha Accounts" in html and 'href="mailto:accounts@alpha.test"' in html
    # Dates in the organisation's format, overdue badges, the reference.
    due = today_in() - timedelta(days=12)
    assert f"{due.day} {due:%b %Y}" in html and "1 Jan 2026" in html
    assert "12 days overdue" in html and "1 day overdue" in html and "40 days overdue" in html
    assert "due today" in html and "PO-77" in html
    assert html.count("days overdue") + html.count("day overdue") == 3
    # Totals per currency, never added together.
    totals = html.split('class="portal-totals"', 1)[1].split("</dl>", 1)[0]
    assert re.findall(r'<dd class="num">([^<]+)</dd>', totals) == [
        "EUR 999.99",
        "GBP 1,834.55",
        "JPY 1,234,567",
    ]
    # This organisation has no Stripe account: the Pay section says so (no Stripe.js, no
    # card form; tests/test_portal_card.py covers the card payment), then the customer's forms.
    assert 'id="portal-pay"' in html
    assert "This business does not take card payments here yet" in html
    assert re.search(r'<button type="button" disabled[^>]*>Pay by card</button>', html)
    assert "js.stripe.com" not in html and "pay.js" not in html and "data-card-pay" not in html
    for action in ("paid", "promise", "dispute"):
        assert f'formaction="/pay/{token}/{action}"' in html
    assert html.count('name="invoice"') == len(mine)
    assert csrf_from(html)
    # Private and not framed; nobody is signed in; no link into duely's own pages.
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert "Sign out" not in html and 'href="/invoices' not in html
    assert "duely_csrf" in page.headers.get("set-cookie", "")


async def test_the_customers_credit_is_shown_against_what_is_due_in_its_currency(
    client, db, settings, org_a
):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    add_invoice(db, acme, "INV-1", 12, amount=50_000)
    add_invoice(db, acme, "EU-1", 3, amount=9_000, currency="EUR")
    ledger = add_connection(db, org_a.id, "Alpha Books")
    add_credit(db, acme, ledger, 12_000, number="CN-0007")
    add_credit(db, acme, ledger, 3_000, kind="overpayment", external_id="op-1")
    add_credit(db, acme, ledger, 500, currency="USD")  # nothing is due in dollars

    html = (await client.get(f"/pay/{token_for(settings, acme)}")).text

    totals = html.split('class="portal-totals"', 1)[1].split("</dl>", 1)[0]
    assert re.findall(r"<dt>([^<]+)</dt>", totals) == [
        "Total due",
        "Your credit with Alpha Ltd",
        "Net to pay",
    ]
    assert re.findall(r'<dd class="num">([^<]+)</dd>', totals) == [
        "EUR 90.00",
        "GBP 500.00",
        "GBP 150.00",
        "GBP 350.00",
    ]
    assert "USD" not in html


async def test_a_customer_with_nothing_due_is_told_so(client, db, settings, org_a):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    add_invoice(db, acme, "PAID-1", 30, status="paid")
    page = await client.get(f"/pay/{token_for(settings, acme)}")
    assert page.status_code == 200
    assert "Nothing to pay" in page.text
    assert "Pay by card" not in page.text and 'name="invoice"' not in page.text


async def test_bad_links_get_a_clear_400(client, db, settings, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    token = token_for(settings, acme)
    payload, signature = token.split(".")
    expired = token_for(settings, acme, now=datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    bad_links = [
        f"{payload}.{signature[:-1]}{other_than(signature[-1])}",
        f"{payload[:-1]}{other_than(payload[-1])}.{signature}",
        token_for(settings, acme, UNSUBSCRIBE),  # an unsubscribe link cannot open the portal
        expired,
        "not-a-token",
        "é.é",
        "x" * 600,
    ]
    for bad in bad_links:
        for url in (f"/pay/{bad}", f"/pay/{bad}/invoices/{invoice.id}.pdf"):
            response = await client.get(url)
            assert response.status_code == 400, (bad, url)
            assert "This payment link does not work" in response.text
            assert "INV-1" not in response.text and "Acme" not in response.text
    assert "expired" in (await client.get(f"/pay/{expired}")).text

    # A post with a bad link (but a good CSRF token) changes nothing either.
    csrf = await open_portal(client, f"/pay/{token}")
    refused = await client.post(
        f"/pay/{bad_links[0]}/paid", data={"invoice": [str(invoice.id)], "_csrf_token": csrf}
    )
    assert refused.status_code == 400 and events(db, invoice) == []

    # A genuine link of a customer that is gone.
    gone = add_customer(db, org_b.id, "Gone Ltd")
    gone_token = token_for(settings, gone)
    db.delete(db.get(Customer, gone.id))
    db.commit()
    response = await client.get(f"/pay/{gone_token}")
    assert response.status_code == 400 and "no longer points" in response.text


# --- invoice PDFs ------------------------------------------------------------------------------


async def test_pdfs_only_of_the_customers_own_ledger_invoices(client, db, settings, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    from_csv = add_invoice(db, acme, "CSV-1", 10)
    other = add_customer(db, org_a.id, "Other Customer")
    others = add_invoice(db, other, "OTHER-1", 10)
    stranger = add_customer(db, org_b.id, "Stranger Ltd")
    strangers = add_invoice(db, stranger, "BRAVO-1", 10)
    base = f"/pay/{token_for(settings, acme)}/invoices"

    for url in (
        f"{base}/{others.id}.pdf",
        f"{base}/{strangers.id}.pdf",
        f"{base}/999999.pdf",
        f"{base}/{from_csv.id}",
        f"{base}/abc.pdf",
    ):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert "OTHER-1" not in response.text and "BRAVO-1" not in response.text
        assert "<html" in response.text  # a page a customer can read
    no_ledger = await client.get(f"{base}/{from_csv.id}.pdf")
    assert no_ledger.status_code == 404 and "No PDF for this invoice" in no_ledger.text


async def test_the_pdf_comes_from_the_ledger(xero, xero_url, settings, db, org_a):  # noqa: F811
    settings = settings.model_copy(
        update={
            "xero_client_id": "duely-test",
            "xero_client_secret": "duely-test-secret",
            "xero_login_url": xero_url,
            "xero_identity_url": f"{xero_url}/identity",
            "xero_api_url": xero_url,
        }
    )
    tenant = xero.add_tenant("Portal Ledger Ltd", 12, seed=51)
    connection = await connect_directly(xero, settings, org_a.id, tenant, "duely-test")
    sales = next(i for i in tenant.invoices.values() if i.kind == "ACCREC")
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV/0042 a", 10, connection_id=connection.id)
    invoice.external_id = sales.invoice_id
    db.commit()
    token = token_for(settings, acme)

    async with browse(create_app(settings)) as web:
        page = await web.get(f"/pay/{token}")
        assert f'href="/pay/{token}/invoices/{invoice.id}.pdf"' in page.text
        pdf = await web.get(f"/pay/{token}/invoices/{invoice.id}.pdf")
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-disposition"] == 'inline; filename="INV-0042-a.pdf"'
        assert pdf.headers["cache-control"] == "no-store"

        # The ledger failing is a 502 page, not a 500.
        xero.faults.replace([FaultRule(path_contains="/Invoices/", fail_with="500", remaining=1)])
        failed = await web.get(f"/pay/{token}/invoices/{invoice.id}.pdf")
        assert failed.status_code == 502
        assert "The PDF could not be fetched right now" in failed.text
        again = await web.get(f"/pay/{token}/invoices/{invoice.id}.pdf")
        assert again.status_code == 200 and again.content.startswith(b"%PDF")


# --- the customer's answers, with Temporal out of reach ----------------------------------------


async def test_answers_are_kept_when_the_chase_engine_is_down(client, db, settings, org_a, caplog):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    first = add_invoice(db, acme, "INV-1", 10)
    second = add_invoice(db, acme, "INV-2", 3)
    untouched = add_invoice(db, acme, "INV-3", 3)
    token = token_for(settings, acme)
    url = f"/pay/{token}"
    csrf = await open_portal(client, url)
    both = [str(first.id), str(second.id)]

    with caplog.at_level(logging.INFO):
        paid = await client.post(
            f"{url}/paid",
            data={"invoice": both, "note": "Paid by BACS on Monday", "_csrf_token": csrf},
        )
        assert paid.status_code == 200
        assert "Thank you" in paid.text and "that you have paid INV-1 and INV-2" in paid.text
        assert "<html" in paid.text  # a plain post gets the whole page back

        promised_day = today_in() + timedelta(days=14)
        promised = await client.post(
            f"{url}/promise",
            data={"invoice": [str(first.id)], "until": promised_day.isoformat()},
            headers={**HTMX, "x-csrftoken": csrf},
        )
        assert promised.status_code == 200
        assert "<html" not in promised.text and 'id="portal-form"' in promised.text
        assert f"has your promise to pay INV-1 by {promised_day.day} " in promised.text
        assert "Reminders about it stop" not in promised.text  # not promised while it is down
        assert promised.headers["hx-reswap"] == "outerHTML show:top"

        disputed = await client.post(
            f"{url}/dispute",
            data={"invoice": [str(second.id)], "reason": "Wrong quantity", "_csrf_token": csrf},
            headers=HTMX,
        )
        assert disputed.status_code == 200 and "that you dispute INV-2" in disputed.text

    first_events = events(db, first)
    assert [e.kind for e in first_events] == ["customer_says_paid", "customer_promised"]
    assert "Paid by BACS on Monday" in first_events[0].detail
    assert promised_day.isoformat() in first_events[1].detail
    assert "could not be reached" in first_events[1].detail
    second_events = events(db, second)
    assert [e.kind for e in second_events] == ["customer_says_paid", "customer_disputed"]
    assert "Wrong quantity" in second_events[1].detail
    assert events(db, untouched) == []
    db.expire_all()
    assert db.get(Invoice, first.id).status == "open"  # "already paid" changes nothing else

    # Nothing personal and no link in the log: ids only.
    logged = server_log(caplog)
    assert f"customer {acme.id} of organisation {org_a.id}" in logged
    for secret in (token, "Acme", "BACS", "Wrong quantity"):
        assert secret not in logged


async def test_answers_are_checked(client, db, settings, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    paid = add_invoice(db, acme, "PAID-1", 10, status="paid")
    other = add_customer(db, org_a.id, "Other Customer")
    others = add_invoice(db, other, "OTHER-1", 10)
    strangers = add_invoice(db, add_customer(db, org_b.id, "Stranger"), "BRAVO-1", 10)
    url = f"/pay/{token_for(settings, acme)}"
    csrf = await open_portal(client, url)
    today = today_in()
    mine = [str(invoice.id)]

    refusals = [
        ("paid", {}, "Tick the invoices"),
        ("promise", {"invoice": mine}, "Choose the date"),
        ("promise", {"invoice": mine, "until": "soon"}, "not a date"),
        ("promise", {"invoice": mine, "until": str(today - timedelta(days=1))}, "has passed"),
        ("promise", {"invoice": mine, "until": str(today + timedelta(days=91))}, "90 days"),
        ("dispute", {"invoice": mine}, "what is wrong"),
        ("dispute", {"invoice": mine, "reason": "x" * 1001}, "under 1,000 characters"),
        ("paid", {"invoice": mine, "note": "y" * 1001}, "under 1,000 characters"),
        ("paid", {"invoice": [str(paid.id)]}, "Nothing is due on PAID-1"),
    ]
    for action, data, message in refusals:
        refused = await client.post(f"{url}/{action}", data={**data, "_csrf_token": csrf})
        assert refused.status_code == 422, (action, data)
        assert message.lower() in refused.text.lower(), (action, data)
        assert "Thank you" not in refused.text
    # Through htmx the form comes back with the mistake marked and the typing kept.
    refused = await client.post(
        f"{url}/dispute",
        data={"invoice": mine, "reason": "", "_csrf_token": csrf},
        headers=HTMX,
    )
    assert refused.status_code == 422 and "<html" not in refused.text
    form = form_of(refused.text)
    assert re.search(rf'value="{invoice.id}"[^>]*checked', form)
    assert "<details open>\n      <summary>I dispute this" in form

    # Another customer's invoice, in this organisation or another, or garbage: a plain 404.
    for ids in ([str(others.id)], [str(strangers.id)], mine + [str(others.id)], ["1; drop"]):
        refused = await client.post(
            f"{url}/promise",
            data={"invoice": ids, "until": str(today), "_csrf_token": csrf},
        )
        assert refused.status_code == 404, ids
        assert "OTHER-1" not in refused.text and "BRAVO-1" not in refused.text
    # A body far bigger than any form of the portal.
    huge = await client.post(
        f"{url}/paid", data={"invoice": mine, "note": "z" * 50_000, "_csrf_token": csrf}
    )
    assert huge.status_code == 413
    for row in (invoice, paid, others, strangers):
        assert events(db, row) == []


async def test_posts_need_the_csrf_token(client, db, settings, org_a, caplog):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    token = token_for(settings, acme)
    url = f"/pay/{token}"
    await open_portal(client, url)  # the cookie alone is not enough
    with caplog.at_level(logging.INFO):
        for data in (
            {"invoice": [str(invoice.id)]},
            {"invoice": [str(invoice.id)], "_csrf_token": "forged"},
        ):
            refused = await client.post(f"{url}/paid", data=data)
            assert refused.status_code == 403
            assert "reload the page" in refused.text.lower()
    assert events(db, invoice) == []
    logged = server_log(caplog)
    assert "/pay/<token>" in logged and token not in logged

    # From another site's form (no cookie of ours, a token of its own) it is refused too.
    client.cookies.clear()
    refused = await client.post(
        f"{url}/paid", data={"invoice": [str(invoice.id)], "_csrf_token": "a" * 128}
    )
    assert refused.status_code == 403
    assert events(db, invoice) == []


def test_the_access_log_leaves_link_tokens_out(tmp_path):
    create_app(Settings(home=tmp_path, secret_key="access-log"))
    for path, shown in (
        ("/pay/abc.DEF-_1/invoices/7.pdf", "/pay/<token>/invoices/7.pdf"),
        ("/unsubscribe/abc.def?x=1", "/unsubscribe/<token>?x=1"),
        ("/invoices/7", "/invoices/7"),
    ):
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", path, "1.1", 200),
            None,
        )
        assert logging.getLogger("uvicorn.access").filter(record)
        assert record.getMessage() == f'127.0.0.1:5000 - "GET {shown} HTTP/1.1" 200'


async def test_posts_and_downloads_are_rate_limited(client, db, settings, org_a):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    add_invoice(db, acme, "INV-1", 10)
    url = f"/pay/{token_for(settings, acme)}"
    csrf = await open_portal(client, url)
    statuses = [
        (await client.post(f"{url}/paid", data={"_csrf_token": csrf})).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [422] * 30
    assert statuses[30] == 429
    limited = await client.get(f"{url}/invoices/1.pdf")
    assert limited.status_code == 429 and "Please wait a minute" in limited.text
    assert (await client.get(url)).status_code == 200  # reading the page is not limited


# --- the customer's answers reach the chase ----------------------------------------------------


async def test_promise_and_dispute_reach_the_chase(live, org_a):
    first = open_invoice(live.db, org_a.id, "Portal")
    customer = live.db.get(Customer, first.customer_id)
    second = add_open_invoice(live.db, customer, "INV-PORTAL-2")
    idle = add_open_invoice(live.db, customer, "INV-PORTAL-3")  # no chase runs for it
    live.started.append(idle)
    await live.start(first)
    await live.start(second)
    url = f"/pay/{token_for(live.settings, customer)}"
    csrf = await open_portal(live.web, url)

    promised_day = today_in() + timedelta(days=30)
    promised = await live.web.post(
        f"{url}/promise",
        data={
            "invoice": [str(first.id), str(second.id)],
            "until": promised_day.isoformat(),
            "_csrf_token": csrf,
        },
        headers=HTMX,
    )
    assert promised.status_code == 200, promised.text
    assert "Reminders about it stop until then." in promised.text
    for invoice in (first, second):
        view = await live.state_is(invoice, "promised")
        assert view.promised_until == promised_day.isoformat()

    disputed = await live.web.post(
        f"{url}/dispute",
        data={"invoice": [str(second.id)], "reason": "Goods damaged", "_csrf_token": csrf},
    )
    assert disputed.status_code == 200 and "that you dispute INV-PORTAL-2" in disputed.text
    view = await live.state_is(second, "disputed")
    assert view.disputed and "Goods damaged" in view.reason

    # The workflow's own timeline says who: the customer, through the portal.
    async def noted() -> bool:
        kinds = {(e.kind, "customer via portal" in e.detail) for e in events(live.db, second)}
        return {("promised", True), ("dispute_opened", True)} <= kinds

    await eventually(noted, "the chase never wrote the customer's answers to the timeline")

    # An invoice without a running chase: kept on its timeline for a person.
    kept = await live.web.post(
        f"{url}/dispute",
        data={"invoice": [str(idle.id)], "reason": "Never ordered", "_csrf_token": csrf},
    )
    assert kept.status_code == 200 and "Thank you" in kept.text
    assert [e.kind for e in events(live.db, idle)] == ["customer_disputed"]
    assert "no chase is running" in events(live.db, idle)[0].detail
    assert await chase_control.view(live.temporal, idle) is None
