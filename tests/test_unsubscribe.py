"""`/unsubscribe/{token}`: the signed link at the foot of every reminder. Public, no login, no
CSRF token (mail clients POST to it: RFC 8058 one-click); a bad link changes nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from duely.core.links import PORTAL, UNSUBSCRIBE, LinkTarget, make_token
from duely.models import Customer
from tests.factories import add_customer, add_invoice

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def token_for(settings, customer: Customer, purpose: str = UNSUBSCRIBE, **kwargs) -> str:
    target = LinkTarget(customer.organisation_id, customer.id)
    return make_token(settings.resolved_secret_key, purpose, target, **kwargs)


def other_than(character: str) -> str:
    return "B" if character == "A" else "A"


def email_opted_out_at(db, customer: Customer) -> datetime | None:
    db.expire_all()
    return db.get(Customer, customer.id).email_opted_out_at


async def test_the_page_asks_before_anything_changes(client, db, settings, org_a):
    customer = add_customer(db, org_a.id, "Acme Widgets")
    token = token_for(settings, customer)
    page = await client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "Stop payment reminders from Alpha Ltd to Acme Widgets?" in page.text
    assert f'<form method="post" action="/unsubscribe/{token}">' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Sign out" not in page.text  # nobody is signed in
    assert email_opted_out_at(db, customer) is None  # looking is not unsubscribing


async def test_one_click_post_opts_the_customer_out(client, db, settings, org_a, caplog):
    customer = add_customer(db, org_a.id, "Acme Widgets")
    # Its chase cannot be told (this app has no Temporal): the opt-out holds all the same, as
    # the outbox re-checks it before every send (tests/test_chase_controls.py tells a chase).
    add_invoice(db, customer, "INV-1", 10)
    token = token_for(settings, customer)
    with caplog.at_level(logging.INFO):
        done = await client.post(f"/unsubscribe/{token}", headers=FORM, **ONE_CLICK)
    assert done.status_code == 200
    assert "Payment reminders stopped" in done.text and "Acme Widgets" in done.text
    first = email_opted_out_at(db, customer)
    assert first is not None
    # Nothing personal in duely's log: ids only.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("duely"))
    assert f"customer {customer.id} of organisation {org_a.id}" in logged
    assert "Acme" not in logged and token not in logged

    # The page's own button, later: still opted out, and since the first time.
    again = await client.post(f"/unsubscribe/{token}")
    assert again.status_code == 200
    assert email_opted_out_at(db, customer) == first
    page = await client.get(f"/unsubscribe/{token}")
    assert "already stopped" in page.text


async def test_bad_links_change_nothing(client, db, settings, org_a, org_b):
    customer = add_customer(db, org_a.id, "Acme Widgets")
    token = token_for(settings, customer)
    payload, signature = token.split(".")
    tampered = [
        f"{payload}.{signature[:-1]}{other_than(signature[-1])}",
        f"{payload[:-1]}{other_than(payload[-1])}.{signature}",
        token_for(settings, customer, PORTAL),  # a payment link cannot unsubscribe
        token_for(settings, customer, now=datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
        "not-a-token",
        "é.é",
        "x" * 600,
    ]
    for bad in tampered:
        for response in (
            await client.get(f"/unsubscribe/{bad}"),
            await client.post(f"/unsubscribe/{bad}", headers=FORM, **ONE_CLICK),
        ):
            assert response.status_code == 400, bad
            assert "This unsubscribe link does not work" in response.text
            assert "Nothing was changed" in response.text
    expired = await client.get(f"/unsubscribe/{tampered[3]}")
    assert "expired" in expired.text
    assert email_opted_out_at(db, customer) is None

    # A valid link of a customer that is gone says so too.
    gone = add_customer(db, org_b.id, "Gone Ltd")
    gone_token = token_for(settings, gone)
    db.delete(db.get(Customer, gone.id))
    db.commit()
    assert (await client.get(f"/unsubscribe/{gone_token}")).status_code == 400
