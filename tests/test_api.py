"""The JSON API: bearer tokens, the list envelope, filters, roles and organisation scoping."""

from datetime import timedelta

from sqlmodel import select

from duely.models import ApiToken, utcnow
from tests.conftest import api_token, login
from tests.factories import add_customer, add_invoice


async def test_token_grants_the_users_role_and_organisation(client, org_a):
    response = await client.post(
        "/api/v1/auth/token", json={"email": org_a.viewer, "password": "correct horse battery"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "viewer" and body["organisation_id"] == org_a.id
    me = await client.get(
        "/api/v1/organisation", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert me.status_code == 200
    assert me.json()["name"] == "Alpha Ltd"


async def test_wrong_password_gets_no_token(client, org_a):
    response = await client.post(
        "/api/v1/auth/token", json={"email": org_a.admin, "password": "guess"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong email or password."


async def test_api_needs_a_bearer_token_not_a_session_cookie(client, org_a):
    assert (await client.get("/api/v1/invoices")).status_code == 401
    await login(client, org_a.admin)
    response = await client.get("/api/v1/invoices", follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")


async def test_expired_and_unknown_tokens_are_refused(client, db, org_a):
    headers = await api_token(client, org_a.admin)
    assert (await client.get("/api/v1/invoices", headers=headers)).status_code == 200
    for row in db.exec(select(ApiToken)).all():
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
    db.commit()
    assert (await client.get("/api/v1/invoices", headers=headers)).status_code == 401
    bogus = {"Authorization": "Bearer duely_not-a-real-token"}
    assert (await client.get("/api/v1/invoices", headers=bogus)).status_code == 401


async def test_tokens_are_stored_only_as_digests(client, db, org_a):
    token = (await api_token(client, org_a.admin))["Authorization"].split()[1]
    stored = db.exec(select(ApiToken)).one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64


async def test_lists_share_the_envelope_and_paging(client, db, org_a):
    for index in range(7):
        add_customer(db, org_a.id, f"Customer {index}")
    headers = await api_token(client, org_a.viewer)
    response = await client.get("/api/v1/customers?page=3&page_size=3", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 7 and body["page"] == 3 and body["page_size"] == 3
    assert [c["name"] for c in body["items"]] == ["Customer 6"]
    too_big = await client.get("/api/v1/customers?page_size=100000", headers=headers)
    assert too_big.status_code == 400


async def test_invoice_filters(client, db, org_a):
    acme = add_customer(db, org_a.id, "Acme Widgets")
    zed = add_customer(db, org_a.id, "Zed Logistics")
    add_invoice(db, acme, "INV-1", days_overdue=-5)
    add_invoice(db, acme, "INV-2", days_overdue=10)
    add_invoice(db, zed, "INV-3", days_overdue=45)
    add_invoice(db, zed, "INV-4", days_overdue=120)
    add_invoice(db, zed, "INV-5", days_overdue=3, status="paid")
    headers = await api_token(client, org_a.viewer)

    async def numbers(query: str) -> list[str]:
        response = await client.get(f"/api/v1/invoices?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["number"] for item in response.json()["items"]]

    assert await numbers("status=open") == ["INV-4", "INV-3", "INV-2", "INV-1"]
    assert await numbers("bucket=current") == ["INV-1"]
    assert await numbers("bucket=1-30") == ["INV-2", "INV-5"]
    assert await numbers("bucket=31-60") == ["INV-3"]
    assert await numbers("bucket=90%2B") == ["INV-4"]
    assert await numbers(f"customer_id={acme.id}") == ["INV-2", "INV-1"]
    assert await numbers("q=zed&status=open") == ["INV-4", "INV-3"]
    assert await numbers("q=INV-2") == ["INV-2"]
    bad = await client.get("/api/v1/invoices?bucket=someday", headers=headers)
    assert bad.status_code == 400


async def test_invoice_detail_reports_aging(client, db, org_a):
    invoice = add_invoice(db, add_customer(db, org_a.id, "Acme"), "INV-9", days_overdue=40)
    headers = await api_token(client, org_a.viewer)
    body = (await client.get(f"/api/v1/invoices/{invoice.id}", headers=headers)).json()
    assert body["bucket"] == "31-60" and body["days_overdue"] == 40
    assert body["amount_due"] == 10_000 and body["timeline"] == []


async def test_another_organisations_rows_are_not_found(client, db, org_a, org_b):
    theirs = add_customer(db, org_b.id, "Bravo's customer")
    their_invoice = add_invoice(db, theirs, "B-1", days_overdue=1)
    add_invoice(db, add_customer(db, org_a.id, "Ours"), "A-1", days_overdue=1)
    headers = await api_token(client, org_a.admin)

    assert (await client.get(f"/api/v1/customers/{theirs.id}", headers=headers)).status_code == 404
    response = await client.get(f"/api/v1/invoices/{their_invoice.id}", headers=headers)
    assert response.status_code == 404
    listed = (await client.get("/api/v1/invoices", headers=headers)).json()
    assert [i["number"] for i in listed["items"]] == ["A-1"]
    by_their_customer = await client.get(
        f"/api/v1/invoices?customer_id={theirs.id}", headers=headers
    )
    assert by_their_customer.json()["total"] == 0


async def test_only_admins_change_organisation_settings(client, org_a):
    viewer = await api_token(client, org_a.viewer)
    denied = await client.patch("/api/v1/organisation", json={"name": "X"}, headers=viewer)
    assert denied.status_code == 403

    admin = await api_token(client, org_a.admin)
    changed = await client.patch(
        "/api/v1/organisation", json={"timezone": "America/New_York"}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["timezone"] == "America/New_York"
    assert changed.json()["name"] == "Alpha Ltd"

    invalid = await client.patch("/api/v1/organisation", json={"country": "XX"}, headers=admin)
    assert invalid.status_code == 400
    assert "unknown country code" in invalid.json()["extra"]["country"]


async def test_openapi_documents_the_api(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/auth/token",
        "/api/v1/invoices",
        "/api/v1/invoices/{invoice_id}",
        "/api/v1/customers",
        "/api/v1/organisation",
    ):
        assert path in paths
