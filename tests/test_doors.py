"""No door answers 500: forged and malformed webhooks, ids and pages out of range, Temporal out of
reach, and what the public may learn from /healthz. Everything goes through the real app
in-process, on both databases; Temporal is really unreachable (a closed loopback port, see
tests/conftest.py) unless a test brings its own server.

Each test counts the bad inputs it tries in BAD_INPUTS, printed at the end of the run (`-s`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections import Counter

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import select

from duely.core.security import SecretBox
from duely.integrations.sms import twilio_signature
from duely.models import ChaseMode, Connection, Organisation, WebhookEvent
from duely.web.api.paging import MAX_PAGE
from duely.web.app import create_app
from duely.web.webhooks import UNREADABLE, hmac_signature
from tests.conftest import api_token, csrf_from, login, start_time_skipping
from tests.factories import add_connection
from tests.stripe_webhooks import WEBHOOK_SECRET, body_of, payment_succeeded, signature_header

BAD_INPUTS: Counter[str] = Counter()
"""Bad inputs tried, by kind ("forgery" or "malformed"), across the module's tests."""

BEYOND_64_BITS = 99999999999999999999
BEYOND_32_BITS = 2**31  # ids are INTEGER columns: past this PostgreSQL refuses the number


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print(f"\ntests/test_doors.py tried {dict(BAD_INPUTS)} bad inputs")


def no_traceback(caplog) -> None:
    """Nothing reached Litestar's "Uncaught exception" log line (or any other traceback)."""
    assert not [r for r in caplog.records if r.exc_info or "Uncaught" in r.getMessage()]


def kept_unreadable(db) -> list[WebhookEvent]:
    db.expire_all()
    return list(db.exec(select(WebhookEvent).where(WebhookEvent.event_type == UNREADABLE)))


def stored_body(row: WebhookEvent) -> bytes:
    if row.payload.startswith("base64:"):
        return base64.b64decode(row.payload.removeprefix("base64:"))
    return row.payload.encode()


# --- Stripe ------------------------------------------------------------------------------------


@pytest.fixture
def takes_cards(db, settings, org_a):
    """Org A's own Stripe webhook endpoint signs with WEBHOOK_SECRET."""
    box = SecretBox(settings.resolved_secret_key)
    db.exec(
        update(Organisation)
        .where(Organisation.id == org_a.id)
        .values(stripe_webhook_secret_encrypted=box.encrypt(WEBHOOK_SECRET))
    )
    db.commit()


def stripe_headers(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict:
    return {"stripe-signature": signature_header(body, secret, at)}


UNREADABLE_STRIPE_BODIES = [
    b'{"data":"x"}',
    b"[]",
    b"x",
    b"",
    b'"event"',
    b"\xff\xfe not utf-8",
    b'{"id":"evt_nul\x00"}',
    b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's JSON reader goes
    b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":[]}}',
    b'{"id":"evt_2","type":"payment_intent.succeeded","data":{"object":{"metadata":[1]}}}',
    b'{"id":"evt_3","type":"payment_intent.succeeded","created":"x","data":{"object":{}}}',
    b'{"id":"evt_4","type":"payment_intent.succeeded","created":99999999999999999999,'
    b'"data":{"object":{}}}',
    b'{"id":"evt_5","type":"charge.refunded","data":{"object":{"amount_refunded":"lots"}}}',
    b'{"id":"evt_6","type":"payment_intent.succeeded","account":7,"data":{"object":{}}}',
    b'{"id":7,"type":"payment_intent.succeeded","data":{"object":{}}}',
    b'{"id":"evt_8","data":{"object":{}}}',
]


def huge_share_event(org_id: int) -> bytes:
    """Duely's own metadata, but naming an invoice no database id can be."""
    metadata = {"duely_org": str(org_id), "duely_customer": "1", "duely_invoices": f"{2**40}:100"}
    return body_of(payment_succeeded("pi_huge", 100, "GBP", metadata))


async def test_stripe_forgeries_are_refused_unread(takes_cards, client, db, org_a, caplog):
    bodies = [*UNREADABLE_STRIPE_BODIES, huge_share_event(org_a.id)]
    genuine = body_of(payment_succeeded("pi_1", 100, "GBP", {"duely_org": str(org_a.id)}))
    bodies.append(genuine)
    answers = []
    for body in bodies:
        for headers in (
            {},
            {"stripe-signature": "t=1,v1=00"},
            {"stripe-signature": "garbage"},
            {"stripe-signature": "t=1é,v1=é".encode("latin-1")},  # not ASCII
            stripe_headers(body, secret="whsec_someone_else"),
            stripe_headers(body, at=int(time.time()) - 301),
            stripe_headers(b"another body"),
        ):
            answer = await client.post("/webhooks/stripe", content=body, headers=headers)
            expected = 400 if not headers else 401
            assert answer.status_code == expected, (body[:60], headers, answer.text)
            assert answer.json()["error"]
            answers.append(answer)
            BAD_INPUTS["forgery"] += 1
    assert db.exec(select(WebhookEvent)).all() == []  # nothing unsigned was kept
    no_traceback(caplog)


async def test_stripe_signed_but_unreadable_bodies_get_400_and_are_kept(
    takes_cards, client, db, org_a, caplog
):
    bodies = [*UNREADABLE_STRIPE_BODIES, huge_share_event(org_a.id)]
    for body in bodies:
        answer = await client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
        assert answer.status_code == 400, (body[:60], answer.text)
        assert "event" in answer.json()["error"]
        BAD_INPUTS["malformed"] += 1
    again = await client.post(
        "/webhooks/stripe", content=bodies[0], headers=stripe_headers(bodies[0])
    )
    assert again.status_code == 400
    kept = kept_unreadable(db)
    assert sorted(stored_body(row) for row in kept) == sorted(bodies)  # each once, as sent
    assert all(row.organisation_id == org_a.id for row in kept)  # whose secret signed it
    assert all(row.processed_at and row.last_error.startswith("refused") for row in kept)
    no_traceback(caplog)

    # A readable event still goes through, kept to be dispatched once Temporal is back.
    event = payment_succeeded("pi_ok", 100, "GBP", {"duely_org": str(org_a.id)})
    fine = await client.post(
        "/webhooks/stripe", content=body_of(event), headers=stripe_headers(body_of(event))
    )
    assert fine.status_code == 200, fine.text
    (row,) = db.exec(select(WebhookEvent).where(WebhookEvent.event_id == event["id"])).all()
    assert row.organisation_id == org_a.id and row.processed_at is None


async def test_whose_event_it_is_is_read_only_once_it_is_verified(
    takes_cards, settings, db, org_a, org_b
):
    """The platform's Connect endpoint signs for every connected account: the event then says
    whose it is, and one naming no organisation here is kept unattributed. A business's own
    secret signs only its own events: one of another business's account is refused."""
    db.exec(
        update(Organisation).where(Organisation.id == org_b.id).values(stripe_account_id="acct_b")
    )
    db.commit()
    platform = settings.model_copy(update={"stripe_webhook_secret": "whsec_platform"})
    stranger = payment_succeeded("pi_stranger", 100, "GBP", {"duely_org": str(BEYOND_32_BITS - 1)})
    connected = {**payment_succeeded("pi_b", 100, "GBP", {}), "account": "acct_b"}
    async with AsyncTestClient(app=create_app(platform)) as client:
        answers = [
            await client.post(
                "/webhooks/stripe", content=body, headers=stripe_headers(body, secret)
            )
            for event, secret in (
                (stranger, "whsec_platform"),
                (connected, "whsec_platform"),
                ({**connected, "id": "evt_not_a_s"}, WEBHOOK_SECRET),  # org A signs B's event
            )
            for body in [body_of(event)]
        ]
    BAD_INPUTS["malformed"] += 1
    BAD_INPUTS["forgery"] += 1
    assert [answer.status_code for answer in answers] == [200, 200, 401], answers[-1].text
    assert "not the signer's" in answers[-1].json()["error"]
    kept = {row.event_id: row.organisation_id for row in db.exec(select(WebhookEvent))}
    assert kept == {stranger["id"]: None, connected["id"]: org_b.id}


# --- Xero --------------------------------------------------------------------------------------


def xero_signature(body: bytes, key: str) -> str:
    """As Xero signs: base64(HMAC-SHA256(raw body, webhook key)) (API-FACTS.md)."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


INTENT_TO_RECEIVE = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"ABC"}'
UNREADABLE_XERO_BODIES = [
    b"[]",
    b"x",
    b"",
    b"{}",
    b"null",
    b'{"events":[1]}',
    b'{"events":"x"}',
    b'{"events":{"tenantId":"t"}}',
    b'{"events":[{"tenantId":[1]}]}',
    b'{"events":[{"tenantId":{}}]}',
    b'{"events":[{"resourceId":"no tenant"}]}',
    b"\xff\xfe not utf-8",
    b'{"events":[],"entropy":"\x00"}',
    b"[" * 100_000 + b"]" * 100_000,
]


async def test_xero_forgeries_get_401_unread(client, db, settings, caplog):
    key = settings.xero_webhook_key
    for body in [*UNREADABLE_XERO_BODIES, INTENT_TO_RECEIVE]:
        for signature in (
            None,
            "",
            "not base64 at all",
            ("é" * 44).encode("latin-1"),  # not ASCII
            xero_signature(body, "wrong key"),
            xero_signature(body + b" ", key),
            xero_signature(body, key).lower(),
        ):
            headers = {} if signature is None else {"x-xero-signature": signature}
            answer = await client.post("/webhooks/xero", content=body, headers=headers)
            assert answer.status_code == 401, (body[:60], signature)
            assert answer.content == b""
            BAD_INPUTS["forgery"] += 1
    assert db.exec(select(WebhookEvent)).all() == []
    no_traceback(caplog)

    signed = await client.post(
        "/webhooks/xero",
        content=INTENT_TO_RECEIVE,
        headers={"x-xero-signature": xero_signature(INTENT_TO_RECEIVE, key)},
    )
    assert signed.status_code == 200 and signed.content == b""


async def test_xero_signed_but_malformed_bodies_get_400_and_are_kept(client, db, settings, caplog):
    key = settings.xero_webhook_key
    for body in UNREADABLE_XERO_BODIES:
        headers = {"x-xero-signature": xero_signature(body, key)}
        answer = await client.post("/webhooks/xero", content=body, headers=headers)
        assert answer.status_code == 400, (body[:60], answer.text)
        BAD_INPUTS["malformed"] += 1
    kept = kept_unreadable(db)
    assert sorted(stored_body(row) for row in kept) == sorted(UNREADABLE_XERO_BODIES)
    assert {row.provider for row in kept} == {"xero"}
    assert all(row.processed_at and "signed but unreadable" in row.last_error for row in kept)
    no_traceback(caplog)


async def test_a_xero_change_while_temporal_is_down_is_still_taken(client, db, settings, org_a):
    """Xero must not retry (nor, after a day of retries, switch the webhook off) because
    duely's own Temporal is away: the scheduled syncs catch the change."""
    connection = add_connection(db, org_a.id, "acme")
    body = json.dumps(
        {
            "events": [
                {"tenantId": connection.external_tenant_id, "eventCategory": "INVOICE"},
                {"tenantId": "tenant-nobody-here", "eventCategory": "CONTACT"},
            ],
            "firstEventSequence": 1,
            "lastEventSequence": 2,
            "entropy": "XYZ",
        }
    ).encode()
    answer = await client.post(
        "/webhooks/xero",
        content=body,
        headers={"x-xero-signature": xero_signature(body, settings.xero_webhook_key)},
    )
    assert answer.status_code == 200 and answer.content == b""


# --- QuickBooks ---------------------------------------------------------------------------------

UNREADABLE_QUICKBOOKS_BODIES = [
    b"x",
    b"",
    b"{}",
    b"null",
    b'{"eventNotifications":"x"}',
    b'{"eventNotifications":[{"dataChangeEvent":{}}]}',
    b'{"eventNotifications":[{"realmId":1}]}',
    b'[{"specversion":"1.0","type":"qbo.invoice.updated.v1"}]',
    b"[1]",
    b"\xff\xfe not utf-8",
    b"[" * 100_000 + b"]" * 100_000,
]


async def test_quickbooks_forgeries_get_401_and_malformed_signed_bodies_400_kept(
    client, db, settings, caplog
):
    key = settings.quickbooks_verifier_token
    legacy = b'{"eventNotifications":[{"realmId":"123"}]}'
    for body in [*UNREADABLE_QUICKBOOKS_BODIES, legacy]:
        not_ascii = ("é" * 44).encode("latin-1")
        for signature in (None, "", "not base64", hmac_signature(body, "wrong"), not_ascii):
            headers = {} if signature is None else {"intuit-signature": signature}
            answer = await client.post("/webhooks/quickbooks", content=body, headers=headers)
            assert answer.status_code == 401, (body[:60], signature)
            BAD_INPUTS["forgery"] += 1
    assert db.exec(select(WebhookEvent)).all() == []
    for body in UNREADABLE_QUICKBOOKS_BODIES:
        headers = {"intuit-signature": hmac_signature(body, key)}
        answer = await client.post("/webhooks/quickbooks", content=body, headers=headers)
        assert answer.status_code == 400, (body[:60], answer.text)
        BAD_INPUTS["malformed"] += 1
    kept = kept_unreadable(db)
    assert sorted(stored_body(row) for row in kept) == sorted(UNREADABLE_QUICKBOOKS_BODIES)
    assert {row.provider for row in kept} == {"quickbooks"}
    # Temporal is not running here: a genuine change is still taken (the syncs catch it).
    genuine = await client.post(
        "/webhooks/quickbooks",
        content=legacy,
        headers={"intuit-signature": hmac_signature(legacy, key)},
    )
    assert genuine.status_code == 200
    no_traceback(caplog)


# --- SMS (Twilio) ------------------------------------------------------------------------------


async def test_sms_forgeries_get_403_and_malformed_forms_never_500(client, settings, caplog):
    url = f"{settings.public_url}/webhooks/sms"
    form = {"From": "+447700900123", "Body": "STOP"}
    real = twilio_signature(url, list(form.items()), settings.twilio_auth_token)
    for signature in (None, "", ("é" * 28).encode("latin-1"), real.lower(), real[:-2]):
        headers = {} if signature is None else {"x-twilio-signature": signature}
        answer = await client.post("/webhooks/sms", data=form, headers=headers)
        assert answer.status_code == 403
        BAD_INPUTS["forgery"] += 1
    for content_type, body in (
        ("multipart/form-data; boundary=x", b"--x\r\nnot a part"),
        ("multipart/form-data", b"no boundary"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=%%%"),
        ("application/json", b'{"From": 1}'),
    ):
        answer = await client.post(
            "/webhooks/sms",
            content=body,
            headers={"content-type": content_type, "x-twilio-signature": real},
        )
        assert 400 <= answer.status_code < 500, (content_type, answer.status_code)
        BAD_INPUTS["malformed"] += 1
    no_traceback(caplog)


# --- ids and pages out of range ----------------------------------------------------------------


async def test_ids_beyond_what_the_database_holds_are_not_found(client, org_a):
    headers = await api_token(client, org_a.collector)
    for path in (
        f"/api/v1/invoices/{BEYOND_64_BITS}",
        f"/api/v1/invoices/{BEYOND_32_BITS}",
        f"/api/v1/invoices/-{BEYOND_64_BITS}",
        f"/api/v1/customers/{BEYOND_64_BITS}",
        f"/api/v1/customers/{BEYOND_32_BITS}",
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["detail"].startswith("No")
        BAD_INPUTS["malformed"] += 1
    for path in (
        f"/api/v1/connections/{BEYOND_64_BITS}/sync",
        f"/api/v1/invoices/{BEYOND_64_BITS}/actions/pause",
    ):
        answer = await client.post(path, headers=headers, json={})
        assert answer.status_code == 404, (path, answer.text)
        BAD_INPUTS["malformed"] += 1

    await login(client, org_a.collector)
    for path in (f"/invoices/{BEYOND_64_BITS}", f"/customers/{BEYOND_32_BITS}"):
        page = await client.get(path)
        assert page.status_code == 404 and "<html" in page.text, path
        assert "Not found" in page.text
        BAD_INPUTS["malformed"] += 1


async def test_pages_beyond_what_can_exist_are_refused_with_the_reason(client, org_a):
    headers = await api_token(client, org_a.viewer)
    for path in ("/api/v1/invoices", "/api/v1/customers", "/api/v1/payments", "/api/v1/outbox"):
        for page in (2**63 - 1, MAX_PAGE + 1, BEYOND_64_BITS):
            answer = await client.get(path, params={"page": page}, headers=headers)
            assert answer.status_code == 400, (path, page, answer.text)
            (problem,) = answer.json()["extra"]
            assert problem["key"] == "page" and f"<= {MAX_PAGE}" in problem["message"]
            BAD_INPUTS["malformed"] += 1
        last = await client.get(path, params={"page": MAX_PAGE, "page_size": 500}, headers=headers)
        assert last.status_code == 200 and last.json()["items"] == []
    answer = await client.get(
        "/api/v1/invoices", params={"customer_id": BEYOND_64_BITS}, headers=headers
    )
    assert answer.status_code == 400 and "out of range" in answer.json()["detail"]
    BAD_INPUTS["malformed"] += 1

    await login(client, org_a.viewer)
    for path in ("/invoices", "/customers", "/payments", "/outbox"):
        page = await client.get(path, params={"page": BEYOND_64_BITS})
        assert page.status_code == 200, path  # the lists show their last page instead
        BAD_INPUTS["malformed"] += 1


# --- Temporal out of reach ---------------------------------------------------------------------


def chase_mode_off(db, org_id: int) -> None:
    db.exec(update(Organisation).where(Organisation.id == org_id).values(chase_mode=ChaseMode.OFF))
    db.commit()


def stored(db, org_id: int) -> Organisation:
    db.expire_all()
    return db.get(Organisation, org_id)


async def test_settings_that_need_temporal_are_refused_whole_while_it_is_down(client, db, org_a):
    chase_mode_off(db, org_a.id)
    headers = await api_token(client, org_a.admin)
    for change in (
        {"chase_mode": "all"},
        {"chase_mode": "selected", "name": "Renamed Ltd", "stripe": {"payment_accounts": "*=615"}},
        {"statement_day": 5, "sender_name": "Sam"},
    ):
        answer = await client.patch("/api/v1/organisation", json=change, headers=headers)
        assert answer.status_code == 503, answer.text
        assert "nothing was changed" in answer.json()["detail"]
        organisation = stored(db, org_a.id)
        assert organisation.chase_mode == ChaseMode.OFF and organisation.name == "Alpha Ltd"
        assert organisation.statement_day is None and organisation.sender_name == ""
        assert organisation.payment_accounts == ""
    # Nothing that needs Temporal: saved as usual.
    renamed = await client.patch("/api/v1/organisation", json={"name": "Renamed"}, headers=headers)
    assert renamed.status_code == 200 and stored(db, org_a.id).name == "Renamed"


async def test_settings_are_put_back_when_temporal_goes_away_half_way(settings, db, org_a, caplog):
    """The app connected while Temporal was up; it is gone by the time chasing is switched on,
    so the first call to fail comes after the settings were committed: they are put back."""
    env = await start_time_skipping()
    address = env.client.service_client.config.target_host
    chase_mode_off(db, org_a.id)
    async with AsyncTestClient(
        app=create_app(settings.model_copy(update={"temporal_address": address}))
    ) as client:
        headers = await api_token(client, org_a.admin)
        assert "unreachable at start-up" not in caplog.text  # connected
        await env.shutdown()
        answer = await client.patch(
            "/api/v1/organisation", json={"chase_mode": "all", "name": "Renamed"}, headers=headers
        )
    assert answer.status_code == 503, answer.text
    organisation = stored(db, org_a.id)
    assert organisation.chase_mode == ChaseMode.OFF and organisation.name == "Alpha Ltd"


async def test_the_settings_page_says_the_chase_engine_is_down_and_saves_nothing(client, db, org_a):
    chase_mode_off(db, org_a.id)
    await login(client, org_a.admin)
    page = await client.get("/settings/organisation")
    form = {
        "_csrf_token": csrf_from(page.text),
        "name": "Renamed Ltd",
        "country": "GB",
        "timezone": "Europe/London",
        "base_currency": "GBP",
        "send_window_start": "09:00",
        "send_window_end": "17:00",
        "chase_mode": "all",
        "send_days": ["1", "2", "3", "4", "5"],
    }
    answer = await client.post("/settings/organisation", data=form)
    assert answer.status_code == 503 and "could not be reached" in answer.text
    organisation = stored(db, org_a.id)
    assert organisation.chase_mode == ChaseMode.OFF and organisation.name == "Alpha Ltd"


async def test_sync_now_while_temporal_is_down_says_so(client, db, org_a):
    connection = add_connection(db, org_a.id, "acme")
    headers = await api_token(client, org_a.collector)
    answer = await client.post(f"/api/v1/connections/{connection.id}/sync", headers=headers)
    assert answer.status_code == 503, answer.text
    assert "could not be requested" in answer.json()["detail"]

    await login(client, org_a.collector)
    page = await client.get("/connections")
    token = csrf_from(page.text)
    plain = await client.post(
        f"/connections/{connection.id}/sync", data={"_csrf_token": token}, follow_redirects=False
    )
    assert plain.status_code == 503 and "could not be requested" in plain.text
    fragment = await client.post(
        f"/connections/{connection.id}/sync",
        headers={"HX-Request": "true", "x-csrftoken": token},
    )
    assert fragment.status_code == 200  # htmx swaps only 2xx and 422 (base.html)
    assert 'role="alert"' in fragment.text and "could not be requested" in fragment.text
    assert "<html" not in fragment.text
    db.expire_all()
    assert db.get(Connection, connection.id).status == connection.status


# --- /healthz ----------------------------------------------------------------------------------


async def test_healthz_tells_the_public_only_ok_or_not(client, org_a):
    public = await client.get("/healthz")
    assert public.status_code == 503
    assert public.text == "not ok" and public.headers["content-type"].startswith("text/plain")

    await login(client, org_a.collector)
    assert (await client.get("/healthz")).text == "not ok"  # not an admin: no details

    await client.post("/logout", data={"_csrf_token": csrf_from((await client.get("/")).text)})
    await login(client, org_a.admin)
    detailed = await client.get("/healthz")
    assert detailed.status_code == 503
    body = detailed.json()
    assert body["status"] == "degraded" and body["database"] == {"ok": True}
    assert body["temporal"]["ok"] is False and body["temporal"]["address"] == "127.0.0.1:1"
    assert body["temporal"]["error"]


async def test_a_refusal_the_app_means_leaves_no_traceback_in_the_log(client, org_a, caplog):
    """Every 404 and 400 logged a whole traceback, burying the real errors."""
    headers = await api_token(client, org_a.viewer)
    with caplog.at_level(logging.INFO):
        assert (await client.get("/api/v1/invoices/123456", headers=headers)).status_code == 404
        assert (await client.get("/api/v1/invoices?page=0", headers=headers)).status_code == 400
    no_traceback(caplog)
