"""The chase controls of the invoice page and the JSON API, against the real dev server with a
real worker: a person's instruction reaches the running InvoiceChaseWorkflow, the card and
`GET /invoices/{id}` show what it did, and an outage of Temporal never breaks the page.

The invoices here have no ledger connection (as from a CSV import) and fall due in ten days,
so nothing is sent: these tests are about the controls, not the sending. The `live` fixture
(tests/live.py) serves duely on a real socket, beside its worker, on a loop of their own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlmodel import Session

from duely.chase import control as chase_control
from duely.core.links import UNSUBSCRIBE, LinkTarget, make_token
from duely.integrations.sms import twilio_signature
from duely.models import Contact, Customer, Invoice, Message, Schedule, ScheduleStep, utcnow
from duely.web.app import create_app
from tests.conftest import api_token, csrf_from, login
from tests.factories import today_in
from tests.live import Live, add_open_invoice, open_invoice
from tests.serving import browse, free_port
from tests.waiting import eventually

HTMX = {"HX-Request": "true"}


def chase_card(html: str) -> str:
    return html.split('id="chase"', 1)[1].split("<h2>Timeline", 1)[0]


# --- the JSON API ------------------------------------------------------------------------------


async def test_api_actions_drive_the_chase(live, org_a, org_b):
    invoice = open_invoice(live.db, org_a.id)
    await live.start(invoice)
    web = live.web
    collector = await api_token(web, org_a.collector)
    url = f"/api/v1/invoices/{invoice.id}/actions"

    paused = await web.post(f"{url}/pause", json={"reason": "on holiday"}, headers=collector)
    assert paused.status_code == 202, paused.text
    assert paused.json() == {"invoice_id": invoice.id, "action": "pause", "accepted": True}
    view = await live.state_is(invoice, "paused")
    assert view.reason == "on holiday" and view.paused_until is None
    detail = (await web.get(f"/api/v1/invoices/{invoice.id}", headers=collector)).json()
    assert detail["chase"]["state"] == "paused"
    assert detail["chase"]["sends"] and detail["chase"]["sends"][0]["status"] == "planned"

    # No body at all is fine for the actions that need nothing.
    assert (await web.post(f"{url}/resume", headers=collector)).status_code == 202
    await live.state_is(invoice, "scheduled")

    # A promise needs a date, a real one, and not in the past.
    yesterday = (today_in() - timedelta(days=1)).isoformat()
    for body in ({}, {"until": yesterday}, {"until": "2026-02-30"}, {"until": "soon"}):
        refused = await web.post(f"{url}/promise", json=body, headers=collector)
        assert refused.status_code in (400, 422), (body, refused.text)
    refused = await web.post(f"{url}/promise", json={"until": yesterday}, headers=collector)
    assert "passed" in refused.json()["detail"]
    assert (await live.view(invoice)).state == "scheduled"

    promised_day = today_in() + timedelta(days=20)
    promised = await web.post(
        f"{url}/promise", json={"until": promised_day.isoformat()}, headers=collector
    )
    assert promised.status_code == 202, promised.text
    view = await live.state_is(invoice, "promised")
    assert view.promised_until == promised_day.isoformat()

    # The promise is written where the ledger's expected payment date lives (no ledger here).
    async def written() -> bool:
        return live.invoice(invoice).expected_payment_date == promised_day

    await eventually(written, "the promised date never reached the invoice")

    disputed = await web.post(
        f"{url}/dispute", json={"reason": "wrong quantity"}, headers=collector
    )
    assert disputed.status_code == 202
    view = await live.state_is(invoice, "disputed")
    assert "wrong quantity" in view.reason and view.disputed
    assert (await web.post(f"{url}/resolve-dispute", headers=collector)).status_code == 202
    await live.state_is(invoice, "promised")

    # Viewers read; another organisation's invoice does not exist; actions are a closed list.
    viewer = await api_token(web, org_a.viewer)
    assert (await web.post(f"{url}/pause", headers=viewer)).status_code == 403
    other = await api_token(web, org_b.collector)
    assert (await web.post(f"{url}/pause", headers=other)).status_code == 404
    assert (await web.get(f"/api/v1/invoices/{invoice.id}", headers=other)).status_code == 404
    assert (await web.post(f"{url}/snooze", headers=collector)).status_code in (400, 404)

    stopped = await web.post(f"{url}/stop", json={"reason": "written off"}, headers=collector)
    assert stopped.status_code == 202
    await live.finished(invoice, "stopped")
    assert live.invoice(invoice).chasing_enabled is False
    for action in ("resume", "pause", "promise"):
        body = {"until": promised_day.isoformat()}
        late = await web.post(f"{url}/{action}", json=body, headers=collector)
        assert late.status_code == 409, late.text
        assert "not being chased" in late.json()["detail"]
    detail = (await web.get(f"/api/v1/invoices/{invoice.id}", headers=collector)).json()
    assert detail["chase"]["state"] == "stopped"


async def test_customer_chasing_switch_reaches_every_open_invoice(live, org_a, org_b):
    first = open_invoice(live.db, org_a.id, "Switch")
    customer = live.db.get(Customer, first.customer_id)
    second = add_open_invoice(live.db, customer, "INV-SWITCH-2")
    live.started.append(second)
    await live.start(first)  # the second one has no chase yet
    assert await live.view(second) is None
    web = live.web
    collector = await api_token(web, org_a.collector)
    url = f"/api/v1/customers/{customer.id}/chasing"

    off = await web.post(url, json={"enabled": False}, headers=collector)
    assert off.status_code == 200, off.text
    assert off.json()["chasing_enabled"] is False and off.json()["id"] == customer.id
    view = await live.state_is(first, "off")
    assert "switched off for this customer" in view.reason
    assert await live.view(second) is None  # switching off starts nothing

    on = await web.post(url, json={"enabled": True}, headers=collector)
    assert on.status_code == 200 and on.json()["chasing_enabled"] is True
    await live.state_is(first, "scheduled")
    await live.state_is(second, "scheduled")  # started, as it had no chase

    assert (await web.post(url, json={"enabled": "maybe"}, headers=collector)).status_code == 400
    viewer = await api_token(web, org_a.viewer)
    assert (await web.post(url, json={"enabled": False}, headers=viewer)).status_code == 403
    other = await api_token(web, org_b.collector)
    assert (await web.post(url, json={"enabled": False}, headers=other)).status_code == 404

    # The customer page's switch does the same, as a plain form.
    await login(web, org_a.collector)
    page = await web.get(f"/customers/{customer.id}")
    assert "Switch chasing off" in page.text
    switched = await web.post(
        f"/customers/{customer.id}/chasing",
        data={"enabled": "false", "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == f"/customers/{customer.id}"
    await live.state_is(second, "off")
    page = await web.get(f"/customers/{customer.id}")
    assert "Switch chasing on" in page.text and 'class="badge off"' in page.text
    # Through htmx only the switch comes back.
    fragment = await web.post(
        f"/customers/{customer.id}/chasing",
        data={"enabled": "true", "_csrf_token": csrf_from(page.text)},
        headers=HTMX,
    )
    assert fragment.status_code == 200
    assert 'id="customer-chasing"' in fragment.text and "<html" not in fragment.text
    assert "Chasing switched on." in fragment.text
    await live.state_is(second, "scheduled")


# --- the invoice page --------------------------------------------------------------------------


async def test_invoice_page_shows_the_live_chase_and_its_controls(live, org_a):
    invoice = open_invoice(live.db, org_a.id, "Page")
    await live.start(invoice)
    web = live.web
    await login(web, org_a.collector)

    html = (await web.get(f"/invoices/{invoice.id}")).text
    card = chase_card(html)
    assert 'class="badge chase-scheduled">scheduled' in card
    assert "Next send" in card and "Next step" in card
    assert card.count('class="badge send-planned">planned') >= 5  # the Standard schedule
    for control in ("Pause chasing", "Send next now", "Escalate now", "Open dispute"):
        assert control in card
    assert "Record promise" in card and "Yes, stop chasing" in card
    assert "Resume" not in card  # nothing to resume yet
    token = csrf_from(html)
    base = f"/invoices/{invoice.id}/chase"

    # A bad date is refused in place, with what was typed kept.
    bad = await web.post(
        f"{base}/pause", data={"until": "31/12", "reason": "x", "_csrf_token": token}, headers=HTMX
    )
    assert bad.status_code == 422
    assert "is not a date" in bad.text and 'value="31/12"' in bad.text and "<html" not in bad.text
    past = (today_in() - timedelta(days=2)).isoformat()
    bad = await web.post(
        f"{base}/promise", data={"until": past, "_csrf_token": token}, headers=HTMX
    )
    assert bad.status_code == 422 and "has passed" in bad.text

    until = today_in() + timedelta(days=5)
    paused = await web.post(
        f"{base}/pause",
        data={"until": until.isoformat(), "reason": "customer on holiday", "_csrf_token": token},
        headers=HTMX,
    )
    assert paused.status_code == 200
    assert "Chasing paused." in paused.text
    assert 'hx-trigger="load delay:1s"' in paused.text  # the card asks again
    await live.state_is(invoice, "paused")
    refreshed = await web.get(f"{base}?refresh=0", headers=HTMX)
    assert "customer on holiday" in refreshed.text and "Paused until" in refreshed.text
    assert f"{until.day} {until:%b %Y}" in refreshed.text
    assert "hx-trigger" not in refreshed.text.split(">", 1)[0]  # the last refresh
    assert "Resume" in refreshed.text

    # A plain form post (no JavaScript) goes back to the invoice page.
    resumed = await web.post(f"{base}/resume", data={"_csrf_token": token}, follow_redirects=False)
    assert resumed.status_code == 303
    assert resumed.headers["location"] == f"/invoices/{invoice.id}#chase"
    await live.state_is(invoice, "scheduled")

    # A viewer sees the state, and no controls; posting anyway is refused.
    async with httpx.AsyncClient(base_url=str(web.base_url), timeout=30) as viewer:
        await login(viewer, org_a.viewer)
        html = (await viewer.get(f"/invoices/{invoice.id}")).text
        card = chase_card(html)
        assert 'class="badge chase-scheduled">scheduled' in card
        assert "<button" not in card and "<form" not in card
        refused = await viewer.post(
            f"{base}/pause", data={"_csrf_token": csrf_from(html)}, follow_redirects=False
        )
        assert refused.status_code == 403

    stopped = await web.post(f"{base}/stop", data={"_csrf_token": token}, headers=HTMX)
    assert stopped.status_code == 200 and "Chasing stopped" in stopped.text
    await live.finished(invoice, "stopped")
    # Acting on a chase that ended says so, in the card.
    late = await web.post(f"{base}/resume", data={"_csrf_token": token}, headers=HTMX)
    assert late.status_code == 200 and "not being chased any more" in late.text
    late = await web.post(f"{base}/resume", data={"_csrf_token": token}, follow_redirects=False)
    assert late.status_code == 409 and "not being chased any more" in late.text

    # Chasing is now off for the invoice: the card says so and offers to start again.
    card = chase_card((await web.get(f"/invoices/{invoice.id}")).text)
    assert "chasing was stopped" in card and "Start chasing</button>" in card
    started = await web.post(f"{base}/start", data={"_csrf_token": token}, headers=HTMX)
    assert started.status_code == 200 and "Chasing started." in started.text
    assert live.invoice(invoice).chasing_enabled is True
    await live.state_is(invoice, "scheduled")


async def test_invoice_page_explains_a_missing_chase(live, org_a):
    invoice = open_invoice(live.db, org_a.id, "Idle")
    live.started.append(invoice)
    await login(live.web, org_a.collector)
    card = chase_card((await live.web.get(f"/invoices/{invoice.id}")).text)
    assert "Not started yet — it starts with the next sync." in card
    assert "Start chasing now</button>" in card

    paid = live.invoice(invoice)
    paid.status, paid.amount_due = "paid", 0
    live.db.commit()
    card = chase_card((await live.web.get(f"/invoices/{invoice.id}")).text)
    assert "The invoice is paid" in card and "<button" not in card


async def test_the_page_survives_temporal_being_unreachable(live, org_a, settings):
    invoice = open_invoice(live.db, org_a.id, "Down")
    await live.start(invoice)

    async def mirrored() -> bool:
        return live.invoice(invoice).chase_state == "scheduled"

    await eventually(mirrored, "the chase state was never mirrored")

    closed = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with browse(create_app(closed)) as web:
        await login(web, org_a.collector)
        page = await web.get(f"/invoices/{invoice.id}")
        assert page.status_code == 200
        card = chase_card(page.text)
        assert "Live state unavailable" in card
        assert 'class="badge chase-scheduled">scheduled' in card  # the mirrored state
        assert "Pause chasing" not in card  # no controls without the chase engine

        down = await web.post(
            f"/invoices/{invoice.id}/chase/pause",
            data={"_csrf_token": csrf_from(page.text)},
            headers=HTMX,
        )
        assert down.status_code == 200 and "could not be reached" in down.text

        headers = await api_token(web, org_a.collector)
        detail = await web.get(f"/api/v1/invoices/{invoice.id}", headers=headers)
        assert detail.status_code == 200 and detail.json()["chase"] is None
        action = await web.post(
            f"/api/v1/invoices/{invoice.id}/actions/pause", json={}, headers=headers
        )
        assert action.status_code == 503
    # Nothing reached the chase.
    assert (await live.view(invoice)).state == "scheduled"


# --- opt-outs: every change tells the customer's running chases --------------------------------


async def test_unsubscribing_tells_the_customers_chases(live, org_a):
    invoice = open_invoice(live.db, org_a.id, "Leaving")
    customer = live.db.get(Customer, invoice.customer_id)
    email_only(live.db, customer)
    await live.start(invoice)
    target = LinkTarget(customer.organisation_id, customer.id)
    token = make_token(live.settings.resolved_secret_key, UNSUBSCRIBE, target)
    response = await live.web.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    await live.told(invoice, 1)
    # Its schedule only emails: nothing is left to send.
    view = await live.state_is(invoice, "off")
    assert view.reason == "the customer opted out of email"


async def test_sms_stop_tells_the_running_chases(live, org_a, org_b):
    # The same person is a contact at a customer of each organisation (the number is shared);
    # a third customer has another number.
    ours = open_invoice(live.db, org_a.id, "Texted")
    theirs = open_invoice(live.db, org_b.id, "Texted")
    other = open_invoice(live.db, org_a.id, "Untexted")
    phones = ["+44 7700 900555", "+44 (0)7700 900-555", "+447700900556"]
    for invoice, phone in zip((ours, theirs, other), phones, strict=True):
        add_phone(live.db, invoice, phone)
        await live.start(invoice)

    stopped = await text_duely(live, "+447700900555", "STOP")
    assert stopped.status_code == 200, stopped.text
    await live.told(ours, 1)
    await live.told(theirs, 1)
    # Texts only: their emails and call tasks carry on.
    assert (await live.view(ours)).state == "scheduled"
    for invoice in (ours, theirs):
        assert live.db.get(Customer, invoice.customer_id).email_opted_out_at is None

    started = await text_duely(live, "+447700900555", "START")
    assert started.status_code == 200
    await live.told(ours, 2)
    await live.told(theirs, 2)
    assert await live.signals(other) == 0  # its number never texted duely


async def test_clearing_an_opt_out_tells_the_chases(live, org_a, org_b):
    invoice = open_invoice(live.db, org_a.id, "Returning")
    customer = live.db.get(Customer, invoice.customer_id)
    email_only(live.db, customer)
    customer.email_opted_out_at = customer.sms_opted_out_at = utcnow()
    live.db.add(customer)
    live.db.commit()
    live.started.append(invoice)
    await chase_control.tell_chase(live.temporal, live.settings.temporal_task_queue, invoice)
    await live.state_is(invoice, "off")
    web = live.web
    url = f"/api/v1/customers/{customer.id}/opt-outs"

    # The API clears one channel; texts back on change nothing for an email-only schedule.
    collector = await api_token(web, org_a.collector)
    cleared = await web.delete(f"{url}/sms", headers=collector)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["sms_opted_out_at"] is None
    assert cleared.json()["email_opted_out_at"] is not None
    await live.told(invoice, 1)
    assert (await live.view(invoice)).state == "off"

    # The customer page clears email, and the chase carries on.
    await login(web, org_a.collector)
    page = await web.get(f"/customers/{customer.id}")
    assert "Clear the email opt-out" in page.text and "Clear the text opt-out" not in page.text
    posted = await web.post(
        f"/customers/{customer.id}/opt-outs/email/clear",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/customers/{customer.id}"
    await live.state_is(invoice, "scheduled")
    await live.told(invoice, 2)
    live.db.expire_all()
    assert live.db.get(Customer, customer.id).email_opted_out_at is None


def email_only(db: Session, customer: Customer) -> None:
    """Give the customer a schedule of one email, so that an email opt-out leaves nothing to
    send (the Standard schedule ends with a call task, which no opt-out stops)."""
    schedule = Schedule(organisation_id=customer.organisation_id, name="Email only")
    db.add(schedule)
    db.commit()
    step = ScheduleStep(
        organisation_id=customer.organisation_id, schedule_id=schedule.id, offset_days=3
    )
    customer.schedule_id = schedule.id
    db.add_all([step, customer])
    db.commit()


def add_phone(db: Session, invoice: Invoice, phone: str) -> None:
    db.add(
        Contact(
            organisation_id=invoice.organisation_id, customer_id=invoice.customer_id, phone=phone
        )
    )
    db.commit()


async def text_duely(live: Live, sender: str, body: str) -> httpx.Response:
    """A reply to duely's number, as Twilio posts it (signed for duely's public URL)."""
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM1"}
    signed_for = f"{live.settings.public_url}/webhooks/sms"
    signature = twilio_signature(signed_for, params.items(), live.settings.twilio_auth_token)
    return await live.web.post(
        "/webhooks/sms", data=params, headers={"X-Twilio-Signature": signature}
    )


async def test_send_now_asks_to_confirm_when_the_customer_had_a_reminder_today(live, org_a):
    """A person's "send next now" goes past the one-a-day cap, so the page asks first and says
    when the last one went; confirming sends the instruction."""
    invoice = open_invoice(live.db, org_a.id, "Confirm")
    await live.start(invoice)
    reminded_earlier_today(live.db, invoice, "Friendly reminder: INV-OTHER")
    web = live.web
    await login(web, org_a.collector)
    token = csrf_from((await web.get(f"/invoices/{invoice.id}")).text)
    base = f"/invoices/{invoice.id}/chase"

    asked = await web.post(f"{base}/send-now", data={"_csrf_token": token}, headers=HTMX)
    assert asked.status_code == 200
    assert "already had a reminder today, at" in asked.text
    assert "Friendly reminder: INV-OTHER" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert not any(e.kind == "send_now" for e in await chase_events(live, invoice))

    confirmed = await web.post(
        f"{base}/send-now", data={"_csrf_token": token, "confirm": "yes"}, headers=HTMX
    )
    assert confirmed.status_code == 200 and "already had a reminder" not in confirmed.text

    async def heard() -> bool:
        return any(e.kind == "send_now" for e in await chase_events(live, invoice))

    await eventually(heard, "the confirmed send-now never reached the chase")


async def test_send_now_says_at_once_why_nothing_can_be_sent(live, org_a):
    invoice = open_invoice(live.db, org_a.id, "Optout")
    await live.start(invoice)
    customer = live.db.get(Customer, invoice.customer_id)
    customer.email_opted_out_at = utcnow()
    live.db.commit()
    web = live.web
    await login(web, org_a.collector)
    token = csrf_from((await web.get(f"/invoices/{invoice.id}")).text)

    refused = await web.post(
        f"/invoices/{invoice.id}/chase/send-now", data={"_csrf_token": token}, headers=HTMX
    )
    assert refused.status_code == 200
    assert "Nothing was sent: the customer opted out of email." in refused.text
    plain = await web.post(
        f"/invoices/{invoice.id}/chase/escalate",
        data={"_csrf_token": token},
        follow_redirects=False,
    )
    assert plain.status_code == 409 and "opted out of email" in plain.text


async def test_api_send_now_refuses_at_once_and_asks_for_confirm_after_todays_reminder(live, org_a):
    """The API meets the same checks as the page: 409 with the reason when nothing can be
    sent, 409 with when the last reminder went unless `confirm` is true."""
    invoice = open_invoice(live.db, org_a.id, "ApiConfirm")
    await live.start(invoice)
    collector = await api_token(live.web, org_a.collector)
    url = f"/api/v1/invoices/{invoice.id}/actions/send-now"
    reminded_earlier_today(live.db, invoice, "Friendly reminder: INV-EARLIER")

    asked = await live.web.post(url, headers=collector)
    assert asked.status_code == 409
    assert "already had a reminder today, at" in asked.json()["detail"]
    assert "Friendly reminder: INV-EARLIER" in asked.json()["detail"]
    assert not any(e.kind == "send_now" for e in await chase_events(live, invoice))

    confirmed = await live.web.post(url, json={"confirm": True}, headers=collector)
    assert confirmed.status_code == 202, confirmed.text

    async def heard() -> bool:
        return any(e.kind == "send_now" for e in await chase_events(live, invoice))

    await eventually(heard, "the confirmed send-now never reached the chase")

    customer = live.db.get(Customer, invoice.customer_id)
    customer.email_opted_out_at = utcnow()
    live.db.commit()
    refused = await live.web.post(url, json={"confirm": True}, headers=collector)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "Nothing was sent: the customer opted out of email."


def reminded_earlier_today(db: Session, invoice: Invoice, subject: str) -> None:
    db.add(
        Message(
            organisation_id=invoice.organisation_id,
            customer_id=invoice.customer_id,
            kind="reminder",
            channel="email",
            unique_key=f"reminder:{invoice.customer_id}:today-{uuid.uuid4().hex[:6]}",
            subject=subject,
            status="sent",
            sent_at=utcnow(),
        )
    )
    db.commit()


async def chase_events(live: Live, invoice: Invoice) -> list:
    view = await live.view(invoice)
    return list(view.history) if view else []
