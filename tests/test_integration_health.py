"""The integration-health view (`/integrations` and `GET /api/v1/integration-health`): ledger
connections in trouble, payments whose ledger write keeps failing, unmatched payments, webhook
deliveries not yet dispatched and unseen alerts, for collectors and admins, scoped to the
organisation; alerts are marked seen with a CSRF-protected htmx post."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from duely.models import Alert, utcnow
from tests.conftest import api_token, csrf_from, login
from tests.factories import (
    add_alert,
    add_connection,
    add_customer,
    add_invoice,
    add_payment,
    add_webhook_event,
)

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HTMX = {"HX-Request": "true", "HX-Target": "health-alerts"}


def at(hours: int) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
def trouble(db, org_a, org_b):
    """Something in every section for org_a, plus what must not show: healthy rows and
    org_b's rows."""
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    bravo_invoice = add_invoice(db, add_customer(db, org_b.id, "Bravo's customer"), "B-1", 3)
    rows = {
        "acme": acme,
        "invoice": invoice,
        "healthy_connection": add_connection(db, org_a.id, "Alpha Books"),
        "broken_connection": add_connection(
            db,
            org_a.id,
            "Alpha Old Books",
            status="needs_reconnect",
            last_error="Xero refused the refresh token",
        ),
        "erring_connection": add_connection(
            db, org_a.id, "Alpha Third Books", last_error="Xero answered 429 three times"
        ),
        "their_connection": add_connection(
            db, org_b.id, "Bravo Books", status="error", last_error="Bravo's secret trouble"
        ),
        "failing": add_payment(
            db,
            org_a.id,
            "pi_failing",
            7_000,
            invoice,
            status="pending",
            attempts=4,
            last_error="Xero answered 503 Service Unavailable",
            created_at=at(1),
        ),
        "pending_untried": add_payment(
            db, org_a.id, "pi_untried", 1_000, invoice, status="pending", created_at=at(2)
        ),
        "recorded": add_payment(db, org_a.id, "pi_recorded", 500, invoice, created_at=at(3)),
        "unmatched": add_payment(
            db,
            org_a.id,
            "pi_unmatched",
            status="unmatched",
            reason="more than is due",
            created_at=at(4),
        ),
        "their_failing": add_payment(
            db,
            org_b.id,
            "pi_their_failing",
            status="pending",
            attempts=2,
            last_error="Bravo's ledger is down",
        ),
        "their_unmatched": add_payment(db, org_b.id, "pi_their_unmatched", status="unmatched"),
        "webhook": add_webhook_event(
            db,
            org_a.id,
            "evt_waiting",
            event_type="payment_intent.succeeded",
            attempts=2,
            last_error="the chase engine could not be reached",
            received_at=at(5),
        ),
        "unclaimed_webhook": add_webhook_event(
            db, None, "evt_unclaimed", event_type="charge.refunded", received_at=at(6)
        ),
        "done_webhook": add_webhook_event(
            db, org_a.id, "evt_done", event_type="payment_intent.succeeded", processed_at=at(7)
        ),
        "their_webhook": add_webhook_event(
            db, org_b.id, "evt_theirs", event_type="charge.dispute.created"
        ),
        "alert": add_alert(
            db,
            org_a.id,
            "refund:re_1",
            detail="GBP 70.00 refunded in full in Stripe",
            invoice_id=invoice.id,
            created_at=at(8),
        ),
        "seen_alert": add_alert(db, org_a.id, "dispute:dp_old", "dispute", seen_at=at(9)),
        "their_alert": add_alert(
            db,
            org_b.id,
            "dispute:dp_1",
            "dispute",
            detail="Bravo's dispute",
            invoice_id=bravo_invoice.id,
        ),
    }
    return rows


# --- the page ----------------------------------------------------------------------------------


async def test_page_shows_every_section_of_the_organisation(client, org_a, trouble):
    await login(client, org_a.collector)
    response = await client.get("/integrations")
    assert response.status_code == 200
    html = response.text
    assert '<a href="/integrations">Integrations</a>' in html  # in the navigation
    assert "All clear" not in html

    connections = _section(html, "health-connections")
    assert "Alpha Old Books" in connections and "Xero refused the refresh token" in connections
    assert "Alpha Third Books" in connections and "Xero answered 429 three times" in connections
    assert "Alpha Books<" not in connections and 'href="/connections"' in connections

    failing = _section(html, "health-failing-payments")
    assert "Xero answered 503 Service Unavailable" in failing and "pi_failing" in failing
    assert '<td class="num">4</td>' in failing
    assert f'<a href="/invoices/{trouble["invoice"].id}">INV-1</a>' in failing
    assert "pi_untried" not in failing and "pi_recorded" not in failing

    unmatched = _section(html, "health-unmatched")
    assert "1 payment to resolve" in unmatched
    assert 'href="/payments?status=unmatched"' in unmatched

    webhooks = _section(html, "health-webhooks")
    assert "payment_intent.succeeded" in webhooks and "evt_waiting" in webhooks
    assert "the chase engine could not be reached" in webhooks
    assert "evt_unclaimed" in webhooks  # matched to no organisation yet
    assert "evt_done" not in webhooks

    alerts = _section(html, "health-alerts")
    assert "GBP 70.00 refunded in full in Stripe" in alerts and "Mark seen" in alerts
    assert f'<a href="/invoices/{trouble["invoice"].id}">INV-1</a>' in alerts
    assert "dp_old" not in alerts  # seen already

    for theirs in ("Bravo", "pi_their", "evt_theirs"):
        assert theirs not in html  # another organisation's rows


def _section(html: str, section_id: str) -> str:
    match = re.search(
        rf'<section class="card health" id="{section_id}">(.*?)</section>', html, re.S
    )
    assert match, f"no section {section_id}"
    return match.group(1)


async def test_page_says_all_clear_when_nothing_needs_a_person(client, db, org_a):
    add_connection(db, org_a.id, "Alpha Books")
    add_payment(db, org_a.id, "pi_fine", status="recorded")
    await login(client, org_a.admin)
    html = (await client.get("/integrations")).text
    assert "All clear" in html
    assert "No alerts to look at." in html and "Every webhook received has been handled." in html


async def test_viewers_neither_see_the_page_nor_mark_alerts_seen(client, db, org_a, trouble):
    await login(client, org_a.viewer)
    home = await client.get("/payments")
    assert 'href="/integrations"' not in home.text  # not in a viewer's navigation
    assert (await client.get("/integrations")).status_code == 403
    alert = trouble["alert"]
    response = await client.post(
        f"/integrations/alerts/{alert.id}/seen",
        data={"_csrf_token": csrf_from(home.text)},
    )
    assert response.status_code == 403
    db.refresh(alert)
    assert alert.seen_at is None


async def test_collectors_mark_an_alert_seen_through_htmx(client, db, org_a, trouble):
    alert = trouble["alert"]
    second = add_alert(db, org_a.id, "dispute:dp_2", "dispute", detail="customer disputes INV-1")
    await login(client, org_a.collector)
    page = await client.get("/integrations")
    headers = {**HTMX, "x-csrftoken": csrf_from(page.text)}
    before = utcnow()
    response = await client.post(f"/integrations/alerts/{alert.id}/seen", headers=headers)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section class="card health" id="health-alerts">')
    assert "<html" not in response.text
    assert "refunded in full" not in response.text and "customer disputes INV-1" in response.text
    db.refresh(alert)
    assert alert.seen_at is not None and alert.seen_at >= before - timedelta(seconds=1)
    db.refresh(second)
    assert second.seen_at is None
    assert "refunded in full" not in (await client.get("/integrations")).text


async def test_marking_seen_needs_the_csrf_token(client, db, org_a, trouble):
    alert = trouble["alert"]
    await login(client, org_a.admin)
    response = await client.post(f"/integrations/alerts/{alert.id}/seen", headers=HTMX)
    assert response.status_code == 403
    db.refresh(alert)
    assert alert.seen_at is None


async def test_without_htmx_marking_seen_returns_to_the_page(client, db, org_a, trouble):
    alert = trouble["alert"]
    await login(client, org_a.admin)
    page = await client.get("/integrations")
    response = await client.post(
        f"/integrations/alerts/{alert.id}/seen",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/integrations"
    db.refresh(alert)
    assert alert.seen_at is not None


async def test_another_organisations_alert_cannot_be_marked(client, db, org_a, trouble):
    theirs = trouble["their_alert"]
    await login(client, org_a.admin)
    page = await client.get("/integrations")
    headers = {**HTMX, "x-csrftoken": csrf_from(page.text)}
    response = await client.post(f"/integrations/alerts/{theirs.id}/seen", headers=headers)
    assert response.status_code == 404
    db.refresh(theirs)
    assert theirs.seen_at is None


# --- the API -----------------------------------------------------------------------------------


async def test_api_gives_the_same_sections(client, org_a, trouble):
    headers = await api_token(client, org_a.collector)
    response = await client.get("/api/v1/integration-health", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["all_clear"] is False
    assert body["connections"]["count"] == 2
    assert {c["tenant_name"] for c in body["connections"]["items"]} == {
        "Alpha Old Books",
        "Alpha Third Books",
    }
    assert not any("token" in key for c in body["connections"]["items"] for key in c)
    failing = body["failing_payments"]
    assert failing["count"] == 1
    assert failing["items"][0]["external_id"] == "pi_failing"
    assert failing["items"][0]["attempts"] == 4 and failing["items"][0]["invoice_number"] == "INV-1"
    unmatched = body["unmatched_payments"]
    assert unmatched["count"] == 1 and unmatched["items"][0]["reason"] == "more than is due"
    webhooks = body["webhooks"]
    assert webhooks["count"] == 2
    assert [w["event_id"] for w in webhooks["items"]] == ["evt_unclaimed", "evt_waiting"]
    assert webhooks["items"][1]["attempts"] == 2 and "payload" not in webhooks["items"][1]
    alerts = body["alerts"]
    assert alerts["count"] == 1
    assert alerts["items"][0]["kind"] == "refund"
    assert alerts["items"][0]["invoice_number"] == "INV-1"
    assert "Bravo" not in response.text and "pi_their" not in response.text


async def test_api_is_all_clear_for_an_organisation_without_trouble(client, org_b, db):
    add_payment(db, org_b.id, "pi_fine")
    headers = await api_token(client, org_b.admin)
    body = (await client.get("/api/v1/integration-health", headers=headers)).json()
    assert body["all_clear"] is True
    assert body["alerts"] == {"count": 0, "items": []}


async def test_api_marks_alerts_seen_for_collectors_only(client, db, org_a, trouble):
    alert = trouble["alert"]
    viewer = await api_token(client, org_a.viewer)
    assert (await client.get("/api/v1/integration-health", headers=viewer)).status_code == 403
    denied = await client.post(f"/api/v1/integration-health/alerts/{alert.id}/seen", headers=viewer)
    assert denied.status_code == 403

    collector = await api_token(client, org_a.collector)
    response = await client.post(
        f"/api/v1/integration-health/alerts/{alert.id}/seen", headers=collector
    )
    assert response.status_code == 200
    first_seen = response.json()["seen_at"]
    assert first_seen is not None and response.json()["invoice_number"] == "INV-1"
    again = await client.post(
        f"/api/v1/integration-health/alerts/{alert.id}/seen", headers=collector
    )
    assert again.json()["seen_at"] == first_seen  # the first time a person dealt with it
    body = (await client.get("/api/v1/integration-health", headers=collector)).json()
    assert body["alerts"]["count"] == 0

    theirs = trouble["their_alert"]
    other = await client.post(
        f"/api/v1/integration-health/alerts/{theirs.id}/seen", headers=collector
    )
    assert other.status_code == 404
    assert db.get(Alert, theirs.id, populate_existing=True).seen_at is None


async def test_long_sections_count_everything_and_list_the_newest(client, db, org_a):
    for n in range(55):
        add_alert(db, org_a.id, f"refund:re_{n}", detail=f"refund {n}", created_at=at(n))
    headers = await api_token(client, org_a.admin)
    alerts = (await client.get("/api/v1/integration-health", headers=headers)).json()["alerts"]
    assert alerts["count"] == 55 and len(alerts["items"]) == 50
    assert alerts["items"][0]["detail"] == "refund 54"
    await login(client, org_a.admin)
    assert "Showing the newest 50 of 55." in (await client.get("/integrations")).text


async def test_configuration_problems_are_shown_apart_from_outages(client, db, org_a, org_b):
    """A payment a setting keeps out of the ledger is a person's to fix: it is listed with what
    to do, apart from payments an outage holds back (duely rides those out); a connection that
    needs reconnecting says so, one whose last sync failed says it retries."""
    invoice = add_invoice(db, add_customer(db, org_a.id, "Acme Widgets"), "INV-7", 10)
    todo = (
        "no Xero account is set for card payments in GBP. Choose the account they are "
        "recorded to under Settings > Organisation > Card payments (Stripe)"
    )
    add_payment(
        db,
        org_a.id,
        "pi_no_account",
        7_000,
        invoice,
        status="pending",
        attempts=1,
        reason=todo,
        last_error="no ledger account is set for card payments in GBP",
        created_at=at(1),
    )
    add_payment(
        db,
        org_a.id,
        "pi_outage",
        3_000,
        invoice,
        status="pending",
        attempts=5,
        last_error="Xero answered 503",
        created_at=at(2),
    )
    add_payment(
        db, org_b.id, "pi_theirs", status="pending", attempts=1, reason="Bravo's own setting"
    )
    add_connection(
        db, org_a.id, "Revoked Books", status="needs_reconnect", last_error="invalid_grant"
    )
    add_connection(db, org_a.id, "Busy Books", last_error="Xero answered 503")

    headers = await api_token(client, org_a.collector)
    body = (await client.get("/api/v1/integration-health", headers=headers)).json()
    assert body["all_clear"] is False
    problems = body["configuration_problems"]
    assert problems["count"] == 1
    (problem,) = problems["items"]
    assert problem["external_id"] == "pi_no_account" and problem["what_to_do"] == todo
    assert problem["invoice_number"] == "INV-7" and problem["status"] == "pending"
    assert [p["external_id"] for p in body["failing_payments"]["items"]] == ["pi_outage"]
    connections = {c["tenant_name"]: c for c in body["connections"]["items"]}
    assert connections["Revoked Books"]["problem"] == "configuration"
    assert "Reconnect Xero on the Connections page" in connections["Revoked Books"]["what_to_do"]
    assert connections["Busy Books"]["problem"] == "outage"
    assert "Bravo" not in str(body)

    await login(client, org_a.collector)
    html = (await client.get("/integrations")).text
    configuration = _section(html, "health-configuration")
    assert "pi_no_account" not in configuration  # a person reads what to do, not ids
    assert str(escape(todo)) in configuration and "INV-7" in configuration
    assert "tries again by itself every hour" in configuration
    failing = _section(html, "health-failing-payments")
    assert "pi_outage" in failing and "pi_no_account" not in failing
    assert "passes by itself" in failing
    listed = _section(html, "health-connections")
    assert "Configuration problem." in listed and "Reconnect Xero" in listed
    assert "Bravo" not in html


async def test_nothing_waiting_on_a_setting_says_so(client, db, org_a):
    add_payment(db, org_a.id, "pi_fine", status="recorded")
    await login(client, org_a.admin)
    html = (await client.get("/integrations")).text
    assert "No payment is waiting for a setting to be changed." in html
    assert "All clear" in html
