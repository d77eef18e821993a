"""Clearing a customer's opt-out, one channel at a time, from the customer page and the JSON API:
who may, what each shows, and that it holds with the chase engine out of reach (this app has
no Temporal; tests/test_chase_controls.py checks that the chases are told)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duely.models import Channel, Customer, utcnow
from duely.outbox.opt_outs import channel_opt_out_reason, channels_opt_out_reason
from tests.conftest import api_token, csrf_from, login
from tests.factories import add_customer, add_invoice

HTMX = {"HX-Request": "true"}


@pytest.fixture
def opted_out(db, org_a) -> Customer:
    """Opted out of both, as by the unsubscribe link; one open invoice."""
    customer = add_customer(
        db,
        org_a.id,
        "Quiet Ltd",
        email_opted_out_at=utcnow() - timedelta(days=2),
        sms_opted_out_at=utcnow() - timedelta(days=1),
    )
    add_invoice(db, customer, "INV-Q1", 10)
    return customer


def reload(db, customer: Customer) -> Customer:
    db.expire_all()
    return db.get(Customer, customer.id)


def test_the_rule_per_channel():
    customer = Customer(organisation_id=1, external_id="c", name="C")
    assert channel_opt_out_reason(customer, Channel.EMAIL) == ""
    customer.email_opted_out_at = utcnow()
    assert channel_opt_out_reason(customer, Channel.EMAIL) == "the customer opted out of email"
    assert channel_opt_out_reason(customer, Channel.SMS) == ""
    assert channel_opt_out_reason(customer, Channel.CALL_TASK) == ""  # never blocked
    assert channels_opt_out_reason(customer, ["email", "sms"]) == ""  # texts may still go
    customer.sms_opted_out_at = utcnow()
    assert channel_opt_out_reason(customer, "sms") == "the customer opted out of texts"
    assert (
        channels_opt_out_reason(customer, ["email", "sms", "email"])
        == "the customer opted out of email and texts"
    )
    assert channels_opt_out_reason(customer, ["email", "call_task"]) == ""
    assert channels_opt_out_reason(customer, []) == ""


async def test_the_customer_page_clears_one_channel(client, db, org_a, opted_out, caplog):
    await login(client, org_a.collector)
    page = await client.get(f"/customers/{opted_out.id}")
    assert page.status_code == 200
    opt_outs = page.text.split('id="customer-opt-outs"', 1)[1].split("</dd>", 1)[0]
    assert "Email:" in opt_outs and "Texts:" in opt_outs
    assert "Clear the email opt-out" in opt_outs and "Clear the text opt-out" in opt_outs

    # Through htmx only the opt-outs come back; the chase engine is out of reach, and it says
    # so, but the opt-out is cleared all the same.
    fragment = await client.post(
        f"/customers/{opted_out.id}/opt-outs/sms/clear",
        data={"_csrf_token": csrf_from(page.text)},
        headers=HTMX,
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="customer-opt-outs"')
    assert "Texts may go to Quiet Ltd again." in fragment.text
    assert "could not be reached" in fragment.text
    assert "Clear the text opt-out" not in fragment.text
    assert "Clear the email opt-out" in fragment.text
    customer = reload(db, opted_out)
    assert customer.sms_opted_out_at is None and customer.email_opted_out_at is not None

    # A plain post goes back to the customer page.
    done = await client.post(
        f"/customers/{opted_out.id}/opt-outs/email/clear",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/customers/{opted_out.id}"
    assert reload(db, opted_out).email_opted_out_at is None
    assert "Clear the" not in (await client.get(f"/customers/{opted_out.id}")).text


async def test_the_page_refuses_viewers_strangers_and_forged_forms(
    client, db, org_a, org_b, opted_out
):
    await login(client, org_a.viewer)
    page = await client.get(f"/customers/{opted_out.id}")
    assert "opted out" in page.text and "Clear the" not in page.text  # viewers read
    token = csrf_from(page.text)
    refused = await client.post(
        f"/customers/{opted_out.id}/opt-outs/email/clear", data={"_csrf_token": token}
    )
    assert refused.status_code == 403

    await login(client, org_a.collector)
    page = await client.get(f"/customers/{opted_out.id}")
    forged = await client.post(f"/customers/{opted_out.id}/opt-outs/email/clear", data={})
    assert forged.status_code == 403  # no CSRF token
    unknown = await client.post(
        f"/customers/{opted_out.id}/opt-outs/call_task/clear",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert unknown.status_code == 400

    stranger = add_customer(db, org_b.id, "Elsewhere", email_opted_out_at=utcnow())
    elsewhere = await client.post(
        f"/customers/{stranger.id}/opt-outs/email/clear",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert elsewhere.status_code == 404
    assert reload(db, stranger).email_opted_out_at is not None
    customer = reload(db, opted_out)
    assert customer.email_opted_out_at is not None and customer.sms_opted_out_at is not None


async def test_the_api_shows_and_clears_opt_outs(client, db, org_a, org_b, opted_out):
    collector = await api_token(client, org_a.collector)
    url = f"/api/v1/customers/{opted_out.id}"
    shown = (await client.get(url, headers=collector)).json()
    assert shown["email_opted_out_at"] is not None and shown["sms_opted_out_at"] is not None
    listed = (await client.get("/api/v1/customers", headers=collector)).json()
    assert {"email_opted_out_at", "sms_opted_out_at"} <= set(listed["items"][0])

    cleared = await client.delete(f"{url}/opt-outs/email", headers=collector)
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["id"] == opted_out.id and body["email_opted_out_at"] is None
    assert body["sms_opted_out_at"] is not None
    # Again: nothing left to clear, same answer.
    assert (await client.delete(f"{url}/opt-outs/email", headers=collector)).status_code == 200

    assert (await client.delete(f"{url}/opt-outs/fax", headers=collector)).status_code == 400
    assert (await client.delete(f"{url}/opt-outs/call_task", headers=collector)).status_code == 400
    viewer = await api_token(client, org_a.viewer)
    assert (await client.delete(f"{url}/opt-outs/sms", headers=viewer)).status_code == 403
    other = await api_token(client, org_b.admin)
    assert (await client.delete(f"{url}/opt-outs/sms", headers=other)).status_code == 404
    assert (await client.delete(f"{url}/opt-outs/sms")).status_code == 401
    assert reload(db, opted_out).sms_opted_out_at is not None

    admin = await api_token(client, org_a.admin)
    assert (await client.delete(f"{url}/opt-outs/sms", headers=admin)).status_code == 200
    assert reload(db, opted_out).sms_opted_out_at is None
