"""The admin API under /quickbooks/_admin: what another engineer's connector tests rely on."""

from __future__ import annotations

from tests.sandbox.quickbooks.conftest import CLIENT_ID, api

ADMIN = "/quickbooks/_admin"


async def test_apps_and_realms(client, xsd_when_present):
    app = {
        "client_id": "other",
        "client_secret": "s",
        "name": "Other",
        "redirect_uris": ["http://127.0.0.1:9/cb"],
        "webhook_url": "http://127.0.0.1:9/hook",
        "verifier_token": "v",
        "webhook_format": "cloudevents",
    }
    created = await client.post(f"{ADMIN}/apps", json=app)
    assert created.status_code == 201 and "client_secret" not in created.json()
    assert created.json()["webhook_format"] == "cloudevents"
    changed = await client.patch(f"{ADMIN}/apps/other", json={"webhook_format": "legacy"})
    assert changed.json()["webhook_format"] == "legacy"
    assert (
        await client.patch(f"{ADMIN}/apps/other", json={"webhook_format": "x"})
    ).status_code == 400
    assert {a["client_id"] for a in (await client.get(f"{ADMIN}/apps")).json()} == {
        CLIENT_ID,
        "other",
    }
    realm = await client.post(
        f"{ADMIN}/realms", json={"name": "New Co", "invoices": 40, "seed": 7, "country": "US"}
    )
    assert realm.status_code == 201
    assert realm.json()["invoices"] == 40 and realm.json()["currency"] == "USD"
    realms = (await client.get(f"{ADMIN}/realms")).json()
    assert [r["name"] for r in realms] == ["Acme Trading Ltd", "New Co"]
    again = await client.post(f"{ADMIN}/realms", json={"seed": 7})
    assert again.status_code == 400
    for kind, element in (
        ("invoices", "Invoice"),
        ("customers", "Customer"),
        ("payments", "Payment"),
        ("credit-memos", "CreditMemo"),
        ("accounts", "Account"),
    ):
        listed = await client.get(
            f"{ADMIN}/realms/{realm.json()['realm_id']}/{kind}", params={"limit": 3}
        )
        assert listed.status_code == 200 and listed.json()
        for body in listed.json():
            xsd_when_present.check(element, body)


async def test_edit_pay_void_delete_an_invoice_in_quickbooks(client, company, quickbooks):
    realm = company.realm_id
    open_invoices = (
        await client.get(f"{ADMIN}/realms/{realm}/invoices", params={"open": True})
    ).json()
    assert all(body["Balance"] > 0 for body in open_invoices)
    unpaid = [body["Id"] for body in open_invoices if "LinkedTxn" not in body]
    first, second, third = unpaid[:3]
    token = company.invoices[first].sync_token
    edited = await client.patch(
        f"{ADMIN}/realms/{realm}/invoices/{first}",
        json={"DueDate": "2032-02-02", "PrivateNote": "called"},
    )
    assert edited.json()["DueDate"] == "2032-02-02" and edited.json()["SyncToken"] == str(token + 1)
    assert (
        await client.patch(f"{ADMIN}/realms/{realm}/invoices/{first}", json={"Colour": 1})
    ).status_code == 400
    paid = await client.post(f"{ADMIN}/realms/{realm}/invoices/{first}/pay", json={"amount": 1.5})
    assert paid.status_code == 201 and paid.json()["TotalAmt"] == 1.5
    rest = await client.post(f"{ADMIN}/realms/{realm}/invoices/{first}/pay", json={})
    assert rest.status_code == 201
    assert (await client.get(f"{ADMIN}/realms/{realm}/invoices/{first}")).json()["Balance"] == 0
    payments = (
        await client.get(f"{ADMIN}/realms/{realm}/payments", params={"invoice_id": first})
    ).json()
    assert sorted(p["Id"] for p in payments) == sorted([paid.json()["Id"], rest.json()["Id"]])
    voided = await client.post(f"{ADMIN}/realms/{realm}/invoices/{second}/void")
    assert voided.json()["Balance"] == 0 and voided.json()["TotalAmt"] == 0
    deleted = await client.delete(f"{ADMIN}/realms/{realm}/invoices/{third}")
    assert deleted.json() == {"deleted": third} and third not in company.invoices
    assert (await client.get(f"{ADMIN}/realms/{realm}/invoices/{third}")).status_code == 404


async def test_customers_grants_and_clock(client, company, auth, quickbooks):
    realm = company.realm_id
    customer_id = next(iter(company.customers))
    changed = await client.patch(
        f"{ADMIN}/realms/{realm}/customers/{customer_id}",
        json={
            "PrimaryEmailAddr": {"Address": "new@example.com"},
            "Mobile": {"FreeFormNumber": "+44 7700 900999"},
        },
    )
    assert changed.json()["PrimaryEmailAddr"] == {"Address": "new@example.com"}
    assert changed.json()["Mobile"] == {"FreeFormNumber": "+44 7700 900999"}
    grants = (await client.get(f"{ADMIN}/grants")).json()
    assert [(g["client_id"], g["realm_id"]) for g in grants] == [(CLIENT_ID, realm)]
    assert (await client.get(f"{api(company)}/preferences", headers=auth)).status_code == 200
    expired = await client.post(f"{ADMIN}/grants/{grants[0]['grant_id']}/expire-access-tokens")
    assert expired.json() == {"expired": 1}
    assert (await client.get(f"{api(company)}/preferences", headers=auth)).status_code == 401
    revoked = await client.post(f"{ADMIN}/grants/{grants[0]['grant_id']}/revoke")
    assert (
        revoked.status_code == 200
        and quickbooks.identity.state.grants[grants[0]["grant_id"]].revoked
    )
    before = (await client.get(f"{ADMIN}/clock")).json()["offset_seconds"]
    moved = await client.post(f"{ADMIN}/clock/advance", json={"seconds": 86400})
    assert moved.json()["offset_seconds"] == before + 86400
    assert (await client.post(f"{ADMIN}/clock/advance", json={"seconds": -1})).status_code == 400


async def test_faults_limits_and_snapshots(client, tmp_path, quickbooks):
    rules = {"rules": [{"path_contains": "/query", "tenant_id": "1", "latency_ms": 5}]}
    assert (await client.put(f"{ADMIN}/faults", json=rules)).status_code == 200
    assert (await client.get(f"{ADMIN}/faults")).json()[0]["latency_ms"] == 5
    assert (
        await client.put(f"{ADMIN}/faults", json={"rules": [{"fail_with": "x"}]})
    ).status_code == 400
    assert (await client.delete(f"{ADMIN}/faults")).status_code == 204
    limits = await client.put(f"{ADMIN}/rate-limits", json={"concurrent": 3})
    assert limits.json()["concurrent"] == 3 and limits.json()["per_minute"] == 500
    assert (await client.put(f"{ADMIN}/rate-limits", json={"nope": 1})).status_code == 400
    assert (await client.get(f"{ADMIN}/webhooks/deliveries")).json() == []
    path = tmp_path / "qb.json"
    saved = await client.post(f"{ADMIN}/snapshot/save", json={"path": str(path)})
    assert saved.json() == {"saved": str(path)} and path.exists()
    loaded = await client.post(f"{ADMIN}/snapshot/load", json={"path": str(path)})
    assert loaded.json() == {"loaded": str(path), "realms": 1}
