"""Payments as people see them: `GET /api/v1/payments` and the `/payments` page (filters,
paging, newest first, scoped to the organisation), and `GET /api/v1/customers/{id}/portal-link`.
Rows are inserted as the Stripe webhook work leaves them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tests.conftest import api_token, login
from tests.factories import add_customer, add_invoice, add_payment

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
ALREADY_PAID = "invoice INV-2 is already paid in the ledger"
PAYMENT_KEYS = {
    "id",
    "status",
    "reason",
    "amount",
    "currency",
    "source",
    "external_id",
    "invoice_id",
    "invoice_number",
    "invoice_ref",
    "customer_id",
    "customer_name",
    "ledger_payment_id",
    "paid_on",
    "attempts",
    "last_error",
    "created_at",
}


def at(hours: int) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
def payments(db, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    zed = add_customer(db, org_a.id, "Zed Logistics")
    inv1 = add_invoice(db, acme, "INV-1", 10, amount=12_345)
    inv2 = add_invoice(db, acme, "INV-2", 5, status="paid")
    inv3 = add_invoice(db, zed, "INV-3", 3)
    theirs = add_invoice(db, add_customer(db, org_b.id, "Bravo's customer"), "B-1", 1)
    rows = {
        "recorded": add_payment(
            db,
            org_a.id,
            "pi_recorded",
            12_345,
            inv1,
            ledger_payment_id="xero-pay-1",
            paid_on=date(2026, 6, 1),
            created_at=at(1),
        ),
        # Named INV-2, which the ledger already shows paid: no invoice_id, only the ref.
        "unmatched": add_payment(
            db,
            org_a.id,
            "pi_unmatched",
            5_000,
            status="unmatched",
            invoice_ref=str(inv2.id),
            customer_id=acme.id,
            reason=ALREADY_PAID,
            created_at=at(2),
        ),
        "pending": add_payment(
            db,
            org_a.id,
            "pi_pending",
            7_000,
            inv3,
            status="pending",
            attempts=3,
            last_error="Xero answered 503",
            created_at=at(3),
        ),
        "refunded": add_payment(
            db, org_a.id, "pi_refunded", 2_000, inv1, status="refunded", created_at=at(4)
        ),
        "stray": add_payment(
            db,
            org_a.id,
            "pi_stray",
            999,
            status="unmatched",
            invoice_ref="999999",
            reason="the payment names no invoice duely knows",
            created_at=at(5),
        ),
        "theirs": add_payment(
            db, org_b.id, "pi_theirs", 1_111, theirs, status="unmatched", created_at=at(6)
        ),
    }
    return {"acme": acme, "zed": zed, "inv1": inv1, "inv2": inv2, "theirs": theirs, **rows}


async def _list(client, headers, query: str = "") -> dict:
    response = await client.get(f"/api/v1/payments?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(body: dict) -> list[str]:
    return [item["external_id"] for item in body["items"]]


# --- the API -----------------------------------------------------------------------------------


async def test_api_lists_the_organisations_payments_newest_first(client, org_a, payments):
    headers = await api_token(client, org_a.viewer)
    body = await _list(client, headers)
    assert body["total"] == 5 and body["page"] == 1 and body["page_size"] == 50
    assert _ids(body) == ["pi_stray", "pi_refunded", "pi_pending", "pi_unmatched", "pi_recorded"]

    by_id = {item["external_id"]: item for item in body["items"]}
    recorded = by_id["pi_recorded"]
    assert set(recorded) == PAYMENT_KEYS
    assert recorded["amount"] == 12_345 and recorded["currency"] == "GBP"  # minor units
    assert recorded["invoice_id"] == payments["inv1"].id
    assert recorded["invoice_number"] == "INV-1"
    assert recorded["customer_id"] == payments["acme"].id
    assert recorded["customer_name"] == "Acme Widgets"
    assert recorded["ledger_payment_id"] == "xero-pay-1"
    assert recorded["paid_on"] == "2026-06-01" and recorded["source"] == "stripe"
    assert recorded["status"] == "recorded"
    assert datetime.fromisoformat(recorded["created_at"]) == at(1)

    unmatched = by_id["pi_unmatched"]
    assert unmatched["invoice_id"] is None
    assert unmatched["invoice_ref"] == str(payments["inv2"].id)
    assert unmatched["invoice_number"] == "INV-2"  # the invoice it named
    assert unmatched["reason"] == ALREADY_PAID

    pending = by_id["pi_pending"]
    assert pending["attempts"] == 3 and pending["last_error"] == "Xero answered 503"
    assert pending["customer_name"] == "Zed Logistics"

    stray = by_id["pi_stray"]
    assert stray["invoice_number"] == "" and stray["customer_id"] is None


async def test_api_filters(client, org_a, payments):
    headers = await api_token(client, org_a.viewer)
    assert _ids(await _list(client, headers, "status=unmatched")) == ["pi_stray", "pi_unmatched"]
    assert _ids(await _list(client, headers, "status=pending")) == ["pi_pending"]
    assert _ids(await _list(client, headers, "status=recorded")) == ["pi_recorded"]
    assert _ids(await _list(client, headers, "status=refunded")) == ["pi_refunded"]
    zed = payments["zed"].id
    assert _ids(await _list(client, headers, f"customer_id={zed}")) == ["pi_pending"]
    acme = payments["acme"].id
    assert _ids(await _list(client, headers, f"customer_id={acme}&status=unmatched")) == [
        "pi_unmatched"
    ]
    inv1 = payments["inv1"].id
    assert _ids(await _list(client, headers, f"invoice_id={inv1}")) == [
        "pi_refunded",
        "pi_recorded",
    ]
    # An unmatched payment is found by the invoice it named.
    inv2 = payments["inv2"].id
    assert _ids(await _list(client, headers, f"invoice_id={inv2}")) == ["pi_unmatched"]


async def test_a_bad_status_is_refused_with_the_statuses_there_are(client, org_a, payments):
    headers = await api_token(client, org_a.viewer)
    response = await client.get("/api/v1/payments?status=lost", headers=headers)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "unknown payment status 'lost'" in detail
    assert "pending, recorded, unmatched, refunded" in detail
    bad_id = await client.get("/api/v1/payments?customer_id=abc", headers=headers)
    assert bad_id.status_code == 400


async def test_api_pages(client, db, org_a):
    for n in range(7):
        add_payment(db, org_a.id, f"pi_{n}", created_at=at(n))
    headers = await api_token(client, org_a.viewer)
    body = await _list(client, headers, "page=3&page_size=3")
    assert body["total"] == 7 and body["page"] == 3 and body["page_size"] == 3
    assert _ids(body) == ["pi_0"]
    assert _ids(await _list(client, headers, "page=1&page_size=3")) == ["pi_6", "pi_5", "pi_4"]
    too_big = await client.get("/api/v1/payments?page_size=100000", headers=headers)
    assert too_big.status_code == 400


async def test_another_organisations_payments_are_invisible(client, org_a, org_b, payments):
    headers = await api_token(client, org_a.admin)
    listed = await _list(client, headers, "status=unmatched")
    assert "pi_theirs" not in _ids(listed)
    theirs = payments["theirs"]
    assert (await _list(client, headers, f"invoice_id={theirs.id}"))["total"] == 0
    by_their_customer = await _list(client, headers, f"customer_id={theirs.customer_id}")
    assert by_their_customer["total"] == 0

    bravo = await api_token(client, org_b.viewer)
    assert _ids(await _list(client, bravo)) == ["pi_theirs"]


async def test_a_payment_naming_another_organisations_invoice_shows_no_number(
    client, db, org_a, payments
):
    add_payment(
        db,
        org_a.id,
        "pi_cross",
        status="unmatched",
        invoice_ref=str(payments["theirs"].id),
        reason="the payment names another organisation than the Stripe account it came from",
        created_at=at(9),
    )
    headers = await api_token(client, org_a.viewer)
    item = (await _list(client, headers, "status=unmatched"))["items"][0]
    assert item["external_id"] == "pi_cross"
    assert item["invoice_number"] == "" and item["customer_name"] == ""


# --- the portal link ---------------------------------------------------------------------------


async def test_portal_link_opens_the_customers_portal(client, db, settings, org_a):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    add_invoice(db, acme, "INV-7", 10)
    # Issue 12, finding 7: a viewer could mint one and act as the customer through it.
    viewer = await api_token(client, org_a.viewer)
    refused = await client.get(f"/api/v1/customers/{acme.id}/portal-link", headers=viewer)
    assert refused.status_code == 403
    headers = await api_token(client, org_a.collector)
    before = datetime.now(UTC)
    response = await client.get(f"/api/v1/customers/{acme.id}/portal-link", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith(f"{settings.public_url}/pay/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=59, hours=23) < expires - before <= timedelta(days=60, seconds=1)

    portal = await client.get(urlsplit(body["url"]).path)
    assert portal.status_code == 200
    assert "INV-7" in portal.text and "Acme Widgets" in portal.text


async def test_portal_link_only_for_the_organisations_customers(client, db, org_a, org_b):
    theirs = add_customer(db, org_b.id, "Bravo's customer")
    headers = await api_token(client, org_a.admin)
    response = await client.get(f"/api/v1/customers/{theirs.id}/portal-link", headers=headers)
    assert response.status_code == 404
    missing = await client.get("/api/v1/customers/999999/portal-link", headers=headers)
    assert missing.status_code == 404


# --- the page ----------------------------------------------------------------------------------

ROW = re.compile(r'<tr id="payment-(\d+)"')


async def _page_ids(client, query: str = "", headers: dict | None = None) -> list[int]:
    response = await client.get(f"/payments?{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    return [int(n) for n in ROW.findall(response.text)]


async def test_page_opens_on_unmatched_payments_with_their_reasons(client, org_a, payments):
    await login(client, org_a.viewer)
    html = (await client.get("/payments")).text
    assert '<a href="/payments">Payments</a>' in html  # in the navigation
    assert [int(n) for n in ROW.findall(html)] == [payments["stray"].id, payments["unmatched"].id]
    assert ALREADY_PAID in html and "the payment names no invoice duely knows" in html
    assert f'<a href="/invoices/{payments["inv2"].id}">INV-2</a>' in html
    assert f'<a href="/customers/{payments["acme"].id}">Acme Widgets</a>' in html
    assert "#999999 (no such invoice)" in html
    assert "GBP 50.00" in html and "pi_unmatched" in html
    assert "pi_theirs" not in html and "Bravo" not in html  # another organisation's
    assert 'aria-current="page" class="current">Unmatched <span class="count">2</span>' in html


async def test_page_tabs_and_paging(client, db, org_a, payments):
    await login(client, org_a.viewer)
    assert await _page_ids(client, "status=pending") == [payments["pending"].id]
    pending = (await client.get("/payments?status=pending")).text
    assert "Xero answered 503" in pending and "3 ledger writes tried" in pending
    assert await _page_ids(client, "status=recorded") == [payments["recorded"].id]
    assert "xero-pay-1" in (await client.get("/payments?status=recorded")).text
    assert len(await _page_ids(client, "status=all")) == 5
    # Junk falls back to the unmatched tab rather than an error page.
    assert await _page_ids(client, "status=bogus&page=x") == await _page_ids(client)

    for n in range(52):
        add_payment(db, org_a.id, f"pi_many_{n}", status="recorded", created_at=at(10 + n))
    first = await _page_ids(client, "status=recorded")
    assert len(first) == 50
    html = (await client.get("/payments?status=recorded")).text
    assert 'href="/payments?status=recorded&amp;page=2"' in html and "of 53" in html
    assert len(await _page_ids(client, "status=recorded&page=2")) == 3
    # htmx paging gets the table only, and the canonical URL to push.
    fragment = await client.get(
        "/payments?status=recorded&page=2",
        headers={"HX-Request": "true", "HX-Target": "payments-table"},
    )
    assert "<html" not in fragment.text and 'id="payments-table"' in fragment.text
    assert fragment.headers["hx-push-url"] == "/payments?status=recorded&page=2"


async def test_page_says_what_unmatched_means_when_there_are_none(client, org_a):
    await login(client, org_a.viewer)
    html = (await client.get("/payments")).text
    assert "No unmatched payments" in html
    assert (
        "a payment duely could not place on an open invoice: already paid in the ledger, "
        "voided, or more than is due; nothing was written to the ledger"
    ) in html
    assert "No payments refunded" in (await client.get("/payments?status=refunded")).text


async def test_openapi_documents_the_new_endpoints(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/payments",
        "/api/v1/customers/{customer_id}/portal-link",
        "/api/v1/integration-health",
        "/api/v1/integration-health/alerts/{alert_id}/seen",
    ):
        assert path in paths
    status = next(
        p for p in paths["/api/v1/payments"]["get"]["parameters"] if p["name"] == "status"
    )
    assert "unmatched" in status["description"]
