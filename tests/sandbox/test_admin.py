"""The admin API, snapshots and the demo sandbox."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import AsyncTestClient

from duely.sandbox import create_sandbox_app
from duely.sandbox.xero import XeroSandbox
from duely.sandbox.xero.sandbox import DEMO_CLIENT_ID, DEMO_TENANT_NAME, DEMO_WEB_URL
from tests.sandbox.conftest import API, CLIENT_ID

ADMIN = "/xero/_admin"


async def test_apps_and_tenants(client, xero):
    created = await client.post(
        f"{ADMIN}/apps",
        json={
            "client_id": "bench",
            "client_secret": "s",
            "name": "Bench",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
        },
    )
    assert created.status_code == 201 and "client_secret" not in created.json()
    assert {a["client_id"] for a in (await client.get(f"{ADMIN}/apps")).json()} == {
        CLIENT_ID,
        "bench",
    }
    tenant = await client.post(
        f"{ADMIN}/tenants", json={"name": "Kiwi Ltd", "invoices": 40, "seed": 8, "country": "NZ"}
    )
    assert tenant.status_code == 201
    assert tenant.json()["base_currency"] == "NZD" and tenant.json()["invoices"] == 40
    assert len((await client.get(f"{ADMIN}/tenants")).json()) == 2


async def test_invoice_edits_move_updated_date_and_book_payments(client, xero, auth, tenant):
    invoice = next(i for i in tenant.invoices.values() if i.status == "AUTHORISED")
    path = f"{ADMIN}/tenants/{tenant.tenant_id}/invoices/{invoice.invoice_id}"
    xero.clock.advance(10)
    since = xero.clock.now()
    xero.clock.advance(1)
    paid = await client.patch(path, json={"Status": "PAID"})
    assert paid.status_code == 200 and paid.json()["Status"] == "PAID"
    assert (
        paid.json()["AmountDue"] == 0 and paid.json()["Payments"][-1]["Reference"] == "Paid in Xero"
    )
    changed = await client.get(
        f"{API}/Invoices", headers={**auth, "If-Modified-Since": since.isoformat()}
    )
    assert [i["InvoiceID"] for i in changed.json()["Invoices"]] == [invoice.invoice_id]
    other = next(i for i in tenant.invoices.values() if i.status == "AUTHORISED")
    voided = await client.patch(
        f"{ADMIN}/tenants/{tenant.tenant_id}/invoices/{other.invoice_id}",
        json={"Status": "VOIDED"},
    )
    assert voided.json()["Status"] == "VOIDED" and voided.json()["AmountDue"] == 0
    due = await client.patch(
        f"{ADMIN}/tenants/{tenant.tenant_id}/invoices/{other.invoice_id}",
        json={"DueDate": "2026-05-01", "AmountDue": 12.34},
    )
    assert due.json()["DueDateString"] == "2026-05-01T00:00:00" and due.json()["AmountDue"] == 12.34
    refused = await client.patch(path, json={"LineItems": []})
    assert refused.status_code == 400
    listing = await client.get(
        f"{ADMIN}/tenants/{tenant.tenant_id}/invoices", params={"status": "VOIDED,PAID", "limit": 5}
    )
    assert len(listing.json()) == 5
    assert {i["Status"] for i in listing.json()} <= {"VOIDED", "PAID"}


async def test_contact_edits_show_in_the_api(client, xero, auth, tenant):
    contact = next(iter(tenant.contacts.values()))
    xero.clock.advance(2)
    since = xero.clock.now()
    xero.clock.advance(1)
    response = await client.patch(
        f"{ADMIN}/tenants/{tenant.tenant_id}/contacts/{contact.contact_id}",
        json={
            "EmailAddress": "ap@example.net",
            "ContactPersons": [
                {
                    "FirstName": "Ana",
                    "LastName": "Silva",
                    "EmailAddress": "ana@example.net",
                    "IncludeInEmails": True,
                }
            ],
        },
    )
    assert response.status_code == 200
    changed = await client.get(
        f"{API}/Contacts", headers={**auth, "If-Modified-Since": since.isoformat()}
    )
    [found] = changed.json()["Contacts"]
    assert found["EmailAddress"] == "ap@example.net"
    assert found["ContactPersons"][0]["IncludeInEmails"] is True


async def test_clock_and_token_expiry(client, xero, auth):
    before = (await client.get(f"{ADMIN}/clock")).json()["offset_seconds"]
    advanced = await client.post(f"{ADMIN}/clock/advance", json={"seconds": 120})
    assert advanced.json()["offset_seconds"] == before + 120
    assert (await client.post(f"{ADMIN}/clock/advance", json={"seconds": -1})).status_code == 400
    [grant] = (await client.get(f"{ADMIN}/grants")).json()
    assert (await client.get(f"{API}/Organisation", headers=auth)).status_code == 200
    expired = await client.post(f"{ADMIN}/grants/{grant['grant_id']}/expire-access-tokens")
    assert expired.json() == {"expired": 1}
    response = await client.get(f"{API}/Organisation", headers=auth)
    assert response.status_code == 401 and response.json()["Detail"].startswith("TokenExpired")
    await client.post(f"{ADMIN}/grants/{grant['grant_id']}/revoke")
    assert (await client.get(f"{ADMIN}/grants")).json()[0]["revoked"] is True


async def test_snapshot_survives_a_restart(xero, auth, tenant, tmp_path):
    invoice = next(i for i in tenant.invoices.values() if i.status == "AUTHORISED")
    xero.clock.advance(timedelta(days=3).total_seconds())
    path = xero.save_snapshot(tmp_path / "xero.json")
    restored = XeroSandbox()
    restored.load_snapshot(path)
    assert restored.clock.offset_seconds == xero.clock.offset_seconds
    assert restored.store.ledger(tenant.tenant_id).invoices[invoice.invoice_id] == invoice
    async with AsyncTestClient(app=create_sandbox_app(restored)) as client:
        response = await client.get(f"{API}/Invoices/{invoice.invoice_id}", headers=auth)
        assert response.status_code == 401  # three days on, the access token has expired
        assert response.json()["Detail"].startswith("TokenExpired")
        connections = restored.identity.connections_of(CLIENT_ID)
        assert [c.tenant_id for c in connections] == [tenant.tenant_id]


async def test_demo_sandbox(tmp_path):
    path = tmp_path / "demo.json"
    demo = XeroSandbox.with_demo(snapshot_path=path)
    app = demo.identity.app(DEMO_CLIENT_ID)
    assert app.client_secret == "duely-demo-secret" and app.redirect_uris == [
        f"{DEMO_WEB_URL}/connections/xero/callback"
    ]
    assert app.webhook_url == "http://127.0.0.1:8000/webhooks/xero"
    [ledger] = demo.store.ledgers.values()
    assert ledger.organisation.name == DEMO_TENANT_NAME and len(ledger.invoices) == 300
    async with AsyncTestClient(app=create_sandbox_app(demo)):
        pass  # shutting down saves the snapshot
    assert path.exists()
    again = XeroSandbox.with_demo(snapshot_path=path)
    assert list(again.store.ledgers) == [ledger.tenant_id]
    assert XeroSandbox.with_demo().store.ledgers.keys() == demo.store.ledgers.keys()
    assert create_sandbox_app().state.xero.store.ledgers == {}
