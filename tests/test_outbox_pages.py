"""The outbox: the page and `GET /api/v1/outbox` list every message of the organisation,
newest first, filtered and paged; call tasks are marked done by collectors and admins."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from duely.models import Event, Message
from tests.conftest import api_token, csrf_from, login
from tests.factories import add_customer, add_invoice

HTMX = {"HX-Request": "true", "HX-Target": "outbox-table"}
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
SUBJECT = re.compile(r"<summary>([^<]+)</summary>")


def add_message(db, customer, n: int, **fields) -> Message:
    values = {
        "organisation_id": customer.organisation_id,
        "customer_id": customer.id,
        "unique_key": f"test:{customer.organisation_id}:{customer.id}:{n}",
        "recipients": "ap@example.test",
        "subject": f"Message {n}",
        "body": f"Dear customer,\n\nbody of message {n}.",
        "status": "sent",
        "created_at": START + timedelta(hours=n),
        **fields,
    }
    message = Message(**values)
    db.add(message)
    db.commit()
    return message


@pytest.fixture
def outbox(db, org_a, org_b):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    zed = add_customer(db, org_a.id, "Zed Logistics")
    other = add_customer(db, org_b.id, "Bravo's customer")
    rows = {
        "sent": add_message(db, acme, 1, sent_at=START + timedelta(hours=1, minutes=1)),
        "failed": add_message(
            db, zed, 2, status="failed", error="550 mailbox unavailable", attempts=1
        ),
        "call": add_message(
            db, zed, 3, channel="call_task", status="open", recipients="", subject="Call Zed"
        ),
        "sms": add_message(db, acme, 4, channel="sms", status="uncertain", error="timed out"),
        "statement": add_message(db, acme, 5, kind="statement", status="held"),
        "other": add_message(db, other, 6, subject="Secret of Bravo"),
    }
    return {"acme": acme, "zed": zed, **rows}


async def listed(client, query: str = "", headers: dict | None = None) -> list[str]:
    response = await client.get(f"/outbox?{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    return SUBJECT.findall(response.text)


async def test_outbox_lists_the_organisations_messages_newest_first(client, org_a, outbox):
    await login(client, org_a.viewer)
    subjects = await listed(client)
    assert subjects == ["Message 5", "Message 4", "Call Zed", "Message 2", "Message 1"]
    html = (await client.get("/outbox")).text
    assert "Secret of Bravo" not in html  # another organisation's message
    assert '<a href="/outbox">Outbox</a>' in html  # in the navigation
    # Shown in the organisation's zone (London: BST in June), with the sender's words.
    assert "1 Jun 2026, 10:00" in html
    assert f'<a href="/customers/{outbox["zed"].id}">Zed Logistics</a>' in html
    assert "550 mailbox unavailable" in html and "body of message 2." in html
    failed = re.search(rf'<tr id="message-{outbox["failed"].id}" class="([^"]*)"', html)
    assert failed and "troubled" in failed.group(1)
    uncertain = re.search(rf'<tr id="message-{outbox["sms"].id}" class="([^"]*)"', html)
    assert uncertain and "troubled" in uncertain.group(1)
    sent = re.search(rf'<tr id="message-{outbox["sent"].id}" class="([^"]*)"', html)
    assert sent and "troubled" not in sent.group(1)
    assert "Mark done" not in html  # a viewer only reads


async def test_outbox_filters(client, org_a, outbox):
    await login(client, org_a.viewer)
    assert await listed(client, "status=failed") == ["Message 2"]
    assert await listed(client, "status=open") == ["Call Zed"]
    assert await listed(client, "channel=sms") == ["Message 4"]
    assert await listed(client, "channel=call_task&status=open") == ["Call Zed"]
    assert await listed(client, "kind=statement") == ["Message 5"]
    assert await listed(client, "kind=reminder&channel=email") == ["Message 2", "Message 1"]
    assert await listed(client, "status=done") == []
    assert "No messages match these filters" in (await client.get("/outbox?status=done")).text
    # Junk falls back to "any" rather than an error page.
    assert len(await listed(client, "status=bogus&channel=pigeon&page=x")) == 5
    # htmx gets the table only, and the canonical URL to push.
    response = await client.get("/outbox?status=failed&channel=", headers=HTMX)
    assert "<html" not in response.text and 'id="outbox-table"' in response.text
    assert response.headers["hx-push-url"] == "/outbox?status=failed"


async def test_outbox_pages(client, db, org_a):
    customer = add_customer(db, org_a.id, "Many Messages")
    for n in range(55):
        add_message(db, customer, n)
    await login(client, org_a.viewer)
    first = await listed(client)
    assert len(first) == 50 and first[0] == "Message 54"
    html = (await client.get("/outbox")).text
    assert 'href="/outbox?page=2"' in html and "Showing 1–50 of 55" in html
    assert await listed(client, "page=2") == [f"Message {n}" for n in range(4, -1, -1)]
    assert await listed(client, "page=99") == await listed(client, "page=2")


async def test_collectors_mark_call_tasks_done(client, db, org_a, outbox):
    call = outbox["call"]
    invoice = add_invoice(db, outbox["zed"], "INV-CALL", 40)
    db.add(
        Event(
            organisation_id=org_a.id,
            invoice_id=invoice.id,
            kind="reminder_sent",
            detail="call task opened",
            message_id=call.id,
        )
    )
    db.commit()
    await login(client, org_a.collector)
    html = (await client.get("/outbox")).text
    assert html.count("Mark done") == 1  # only the open call task
    token = csrf_from(html)

    row = await client.post(
        f"/outbox/{call.id}/done", data={"_csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert row.status_code == 200
    assert row.text.lstrip().startswith(f'<tr id="message-{call.id}"')
    assert "msg-done" in row.text and "Mark done" not in row.text
    db.expire_all()
    assert db.get(Message, call.id).status == "done"
    done = db.exec(select(Event).where(Event.kind == "call_done")).one()
    assert done.invoice_id == invoice.id and org_a.collector in done.detail

    # Only call tasks: an email cannot be "done".
    refused = await client.post(
        f"/outbox/{outbox['sent'].id}/done", data={"_csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 409
    assert db.get(Message, outbox["sent"].id).status == "sent"
    # A plain form post goes back to the outbox.
    back = await client.post(
        f"/outbox/{call.id}/done", data={"_csrf_token": token}, follow_redirects=False
    )
    assert back.status_code == 303 and back.headers["location"] == "/outbox"
    # Another organisation's message does not exist here.
    assert (
        await client.post(f"/outbox/{outbox['other'].id}/done", data={"_csrf_token": token})
    ).status_code == 404


async def test_viewers_cannot_mark_done(client, db, org_a, outbox):
    await login(client, org_a.viewer)
    token = csrf_from((await client.get("/outbox")).text)
    response = await client.post(
        f"/outbox/{outbox['call'].id}/done", data={"_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 403
    db.expire_all()
    assert db.get(Message, outbox["call"].id).status == "open"
    headers = await api_token(client, org_a.viewer)
    api = await client.post(f"/api/v1/outbox/{outbox['call'].id}/done", headers=headers)
    assert api.status_code == 403


async def test_outbox_api(client, db, org_a, org_b, outbox):
    headers = await api_token(client, org_a.viewer)
    body = (await client.get("/api/v1/outbox", headers=headers)).json()
    assert set(body) == {"items", "total", "page", "page_size"}
    assert body["total"] == 5 and body["page"] == 1 and body["page_size"] == 50
    assert [m["subject"] for m in body["items"]] == [
        "Message 5",
        "Message 4",
        "Call Zed",
        "Message 2",
        "Message 1",
    ]
    failed = next(m for m in body["items"] if m["status"] == "failed")
    assert set(failed) == {
        "id",
        "created_at",
        "sent_at",
        "channel",
        "kind",
        "customer_id",
        "recipients",
        "subject",
        "body",
        "status",
        "error",
        "attempts",
    }
    assert failed["error"] == "550 mailbox unavailable" and failed["attempts"] == 1
    assert failed["customer_id"] == outbox["zed"].id and "body of message 2." in failed["body"]

    async def subjects(query: str) -> list[str]:
        response = await client.get(f"/api/v1/outbox?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [m["subject"] for m in response.json()["items"]]

    assert await subjects("status=open&channel=call_task") == ["Call Zed"]
    assert await subjects("kind=statement") == ["Message 5"]
    assert await subjects(f"customer_id={outbox['acme'].id}&channel=email") == [
        "Message 5",
        "Message 1",
    ]
    assert await subjects("page=2&page_size=2") == ["Call Zed", "Message 2"]
    bad = await client.get("/api/v1/outbox?status=lost", headers=headers)
    assert bad.status_code == 400

    other = await api_token(client, org_b.admin)
    theirs = (await client.get("/api/v1/outbox", headers=other)).json()
    assert [m["subject"] for m in theirs["items"]] == ["Secret of Bravo"]
    assert (
        await client.post(f"/api/v1/outbox/{outbox['call'].id}/done", headers=other)
    ).status_code == 404

    collector = await api_token(client, org_a.collector)
    done = await client.post(f"/api/v1/outbox/{outbox['call'].id}/done", headers=collector)
    assert done.status_code == 200 and done.json()["status"] == "done"
    email = await client.post(f"/api/v1/outbox/{outbox['sent'].id}/done", headers=collector)
    assert email.status_code == 409
