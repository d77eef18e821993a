"""Signed webhook batches to a real receiver, retries, and the intent-to-receive check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import jsonschema
import pytest_asyncio
from litestar import Litestar, Request, Response, post

from tests.sandbox.conftest import CLIENT_ID, serve, shut
from tests.sandbox.xero_contract import webhook_event_schema

KEY = "receiver-webhook-key"


def receiver_app(received: list, *, check_signature: bool, fail_first: int = 0) -> Litestar:
    """A duely-like receiver: 401 on a bad signature (unless told not to check)."""
    failures = {"left": fail_first}

    @post("/webhooks/xero", status_code=200)
    async def webhook(request: Request) -> Response:
        raw = await request.body()
        expected = base64.b64encode(hmac.new(KEY.encode(), raw, hashlib.sha256).digest()).decode()
        signature = request.headers.get("x-xero-signature", "")
        if check_signature and not hmac.compare_digest(signature, expected):
            return Response(b"", status_code=401)
        if failures["left"]:
            failures["left"] -= 1
            return Response(b"", status_code=503)
        received.append({"raw": raw, "signature": signature, "valid": signature == expected})
        return Response(b"", status_code=200)

    return Litestar([webhook], openapi_config=None)


@pytest_asyncio.fixture
async def receiver():
    received: list = []
    served = await serve(receiver_app(received, check_signature=True, fail_first=1))
    yield served, received
    await shut(served)


async def test_admin_changes_arrive_as_signed_batches(client, xero, auth, tenant, receiver):
    served, received = receiver
    xero.identity.app(CLIENT_ID).webhook_url = f"{served.url}/webhooks/xero"
    xero.identity.app(CLIENT_ID).webhook_key = KEY
    invoice = next(i for i in tenant.invoices.values() if i.status == "AUTHORISED")
    patched = await client.patch(
        f"/xero/_admin/tenants/{tenant.tenant_id}/invoices/{invoice.invoice_id}",
        json={"DueDate": "2026-03-31"},
    )
    assert patched.status_code == 200
    contact_id = invoice.contact_id
    await client.patch(
        f"/xero/_admin/tenants/{tenant.tenant_id}/contacts/{contact_id}",
        json={"EmailAddress": "new.address@example.com"},
    )
    await xero.webhooks.wait_idle()
    assert len(received) == 1  # one batch, after a retry of the 503
    payload = json.loads(received[0]["raw"])
    jsonschema.validate(payload, webhook_event_schema())
    assert received[0]["valid"]
    events = payload["events"]
    assert [(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events] == [
        ("INVOICE", "UPDATE", invoice.invoice_id),
        ("CONTACT", "UPDATE", contact_id),
    ]
    assert all(
        e["tenantId"] == tenant.tenant_id and e["tenantType"] == "ORGANISATION" for e in events
    )
    assert events[0]["resourceUrl"].endswith(f"/api.xro/2.0/Invoices/{invoice.invoice_id}")
    assert (payload["firstEventSequence"], payload["lastEventSequence"]) == (1, 2)
    deliveries = (await client.get("/xero/_admin/webhooks/deliveries")).json()
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["attempts"] == 2


async def test_a_payment_is_an_invoice_update(client, xero, auth, tenant, receiver):
    served, received = receiver
    app = xero.identity.app(CLIENT_ID)
    app.webhook_url, app.webhook_key = f"{served.url}/webhooks/xero", KEY
    invoice = next(
        i for i in tenant.invoices.values() if i.status == "AUTHORISED" and i.currency == "GBP"
    )
    body = {"Invoice": {"InvoiceID": invoice.invoice_id}, "Account": {"Code": "090"}, "Amount": 1}
    assert (
        await client.put("/xero/api.xro/2.0/Payments", json=body, headers=auth)
    ).status_code == 200
    await xero.webhooks.wait_idle()
    events = json.loads(received[0]["raw"])["events"]
    assert [(e["eventCategory"], e["resourceId"]) for e in events] == [
        ("INVOICE", invoice.invoice_id)
    ]


async def test_intent_to_receive_tells_a_good_receiver_from_a_lax_one(server, xero):
    good_received: list = []
    lax_received: list = []
    good = await serve(receiver_app(good_received, check_signature=True))
    lax = await serve(receiver_app(lax_received, check_signature=False))
    try:
        app = xero.identity.app(CLIENT_ID)
        app.webhook_key = KEY
        app.webhook_url = f"{good.url}/webhooks/xero"
        async with httpx.AsyncClient(base_url=server.url) as http:
            report = (await http.post(f"/xero/_admin/apps/{CLIENT_ID}/intent-to-receive")).json()
        assert report["correctly_signed_status"] == 200 and report["wrongly_signed_status"] == 401
        assert report["passed"] is True
        itr = json.loads(good_received[0]["raw"])
        assert itr["events"] == [] and itr["firstEventSequence"] == itr["lastEventSequence"] == 0
        app.webhook_url = f"{lax.url}/webhooks/xero"
        async with httpx.AsyncClient(base_url=server.url) as http:
            report = (await http.post(f"/xero/_admin/apps/{CLIENT_ID}/intent-to-receive")).json()
        assert report["wrongly_signed_status"] == 200 and report["passed"] is False
        assert [r["valid"] for r in lax_received] == [True, False]
    finally:
        await shut(good)
        await shut(lax)
