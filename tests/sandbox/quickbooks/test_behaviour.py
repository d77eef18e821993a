"""More of the QuickBooks sandbox's behaviour: the demo's aging, customers and invoices written
through the API, field selection in queries, webhooks for API writes and their retries."""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import pytest
from litestar import Litestar, Request, Response, post

from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.webhooks import WebhookSettings
from tests.sandbox.quickbooks.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, api
from tests.serving import serve, shut


def test_demo_invoices_fall_in_every_aging_bucket():
    demo = QuickBooksSandbox.with_demo()
    company = next(iter(demo.store.companies.values()))
    today = demo.clock.today()
    buckets = {"current": 0, "1-30": 0, "31-60": 0, "61-90": 0, "90+": 0}
    for invoice in company.invoices.values():
        if invoice.balance == 0:
            continue
        late = (today - invoice.due_date).days
        bucket = (
            "current"
            if late <= 0
            else "1-30"
            if late <= 30
            else "31-60"
            if late <= 60
            else "61-90"
            if late <= 90
            else "90+"
        )
        buckets[bucket] += 1
    assert all(count >= 10 for count in buckets.values()), buckets
    part_paid = [i for i in company.invoices.values() if 0 < i.balance < i.total]
    assert part_paid and all(i.linked for i in part_paid)
    assert any(c.mobile for c in company.customers.values())


async def test_customer_create_and_sparse_update(client, company, auth, xsd_when_present):
    url = f"{api(company)}/customer"
    body = {"DisplayName": "Newco Ltd", "PrimaryEmailAddr": {"Address": "ap@newco.example.com"}}
    created = await client.post(url, json=body, headers=auth)
    assert created.status_code == 200, created.text
    customer = created.json()["Customer"]
    xsd_when_present.check("Customer", customer)
    duplicate = await client.post(url, json=body, headers=auth)
    assert duplicate.json()["Fault"]["Error"][0]["code"] == "6240"
    update = {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True}
    changed = await client.post(
        url, json={**update, "Mobile": {"FreeFormNumber": "07700 900123"}}, headers=auth
    )
    assert changed.json()["Customer"]["Mobile"] == {"FreeFormNumber": "07700 900123"}
    assert changed.json()["Customer"]["PrimaryEmailAddr"] == {"Address": "ap@newco.example.com"}
    stale = await client.post(url, json={**update, "Active": False}, headers=auth)
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"


async def test_invoice_created_in_a_batch(client, company, auth, xsd_when_present):
    customer_id = next(iter(company.customers))
    invoice = {
        "CustomerRef": {"value": customer_id},
        "TxnDate": "2026-01-05",
        "Line": [
            {"Amount": 120.0, "DetailType": "SalesItemLineDetail", "Description": "Audit"},
            {"Amount": 30.5, "DetailType": "SalesItemLineDetail", "Description": "Travel"},
        ],
    }
    items = [{"bId": "new", "operation": "create", "Invoice": invoice}]
    answer = await client.post(
        f"{api(company)}/batch", json={"BatchItemRequest": items}, headers=auth
    )
    created = answer.json()["BatchItemResponse"][0]["Invoice"]
    xsd_when_present.check("Invoice", created)
    assert created["TotalAmt"] == 150.5 and created["Balance"] == 150.5
    assert created["DueDate"] == "2026-02-04"
    assert company.invoices[created["Id"]].doc_number == created["DocNumber"]


async def test_query_selects_fields(client, company, auth):
    answer = await client.get(
        f"{api(company)}/query",
        params={"query": "select Id, DocNumber, Balance from Invoice maxresults 2"},
        headers=auth,
    )
    for body in answer.json()["QueryResponse"]["Invoice"]:
        assert set(body) <= {"Id", "SyncToken", "DocNumber", "Balance", "domain", "sparse"}
        assert body["sparse"] is True


@pytest.fixture
async def receiver():
    """A webhook receiver that fails its first answer, then keeps what it is sent."""
    received: list[bytes] = []
    answers = iter([500])

    @post("/hook")
    async def hook(request: Request) -> Response:
        status = next(answers, 200)
        if status == 200:
            received.append(await request.body())
        return Response(b"", status_code=status)

    served = await serve(Litestar([hook]))
    served.received = received  # type: ignore[attr-defined]
    yield served
    await shut(served)


async def test_a_payment_through_the_api_notifies_and_is_retried(receiver):
    quickbooks = QuickBooksSandbox(
        webhook_settings=WebhookSettings(batch_delay=0.05, first_backoff=0.05)
    )
    quickbooks.register_app(
        CLIENT_ID, CLIENT_SECRET, "t", [REDIRECT_URI], f"{receiver.url}/hook", "verifier"
    )
    company = quickbooks.add_company("Hooked", 20, seed=5)
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    invoice = next(i for i in company.invoices.values() if i.balance and not i.linked)
    served = await serve(create_sandbox_app(quickbooks=quickbooks))
    try:
        async with httpx.AsyncClient(base_url=served.url) as http:
            body = {
                "CustomerRef": {"value": invoice.customer_id},
                "TotalAmt": 1.0,
                "Line": [
                    {"Amount": 1.0, "LinkedTxn": [{"TxnId": invoice.id, "TxnType": "Invoice"}]}
                ],
            }
            paid = await http.post(
                f"{api(company)}/payment",
                json=body,
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
            assert paid.status_code == 200
            await quickbooks.webhooks.wait_idle()
    finally:
        await shut(served)
    delivery = quickbooks.webhooks.deliveries[0]
    assert delivery.status == "delivered" and delivery.attempts == 2
    entities = json.loads(receiver.received[0])["eventNotifications"][0]["dataChangeEvent"][
        "entities"
    ]
    assert {(e["name"], e["operation"]) for e in entities} == {
        ("Payment", "Create"),
        ("Invoice", "Update"),
    }
    assert date.fromisoformat(entities[0]["lastUpdated"][:10]) == quickbooks.clock.today()


async def test_a_route_not_emulated_answers_unsupported_operation(client, company, auth, caplog):
    for method, path in (
        ("GET", "estimate/1"),
        ("GET", "invoice/1/send"),
        ("DELETE", "invoice/1"),
        ("PUT", "query"),
    ):
        answer = await client.request(method, f"{api(company)}/{path}", headers=auth)
        assert answer.status_code == 400, (method, path, answer.text)
        assert answer.json()["Fault"]["Error"][0]["code"] == "500"
    assert "estimate/1 is not emulated" in caplog.text
    unauthenticated = await client.get(f"{api(company)}/estimate/1")
    assert unauthenticated.status_code == 401


async def test_inactive_customers_only_when_asked_for(client, company, auth, quickbooks):
    customer_id = next(iter(company.customers))
    quickbooks.store.update_customer(
        company.realm_id, {"Id": customer_id, "Active": False}, check_token=False
    )

    async def count(text: str) -> int:
        answer = await client.get(f"{api(company)}/query", params={"query": text}, headers=auth)
        return answer.json()["QueryResponse"]["totalCount"]

    everyone = len(company.customers)
    assert await count("select count(*) from Customer") == everyone - 1
    assert await count("select count(*) from Customer where Active IN (true, false)") == everyone
    assert await count("select count(*) from Customer where Active = false") == 1


async def test_a_fault_rule_for_one_realm(client, company, auth, quickbooks):
    other = quickbooks.add_company("Other", 5, seed=42)
    rule = {"path_contains": "/preferences", "realm_id": other.realm_id, "rate_500": 1.0}
    assert (
        await client.put("/quickbooks/_admin/faults", json={"rules": [rule]})
    ).status_code == 200
    assert (await client.get(f"{api(company)}/preferences", headers=auth)).status_code == 200
    tokens = quickbooks.connect(CLIENT_ID, other.realm_id)
    failed = await client.get(
        f"{api(other)}/preferences", headers={"Authorization": f"Bearer {tokens.access_token}"}
    )
    assert failed.status_code == 500 and failed.json()["Fault"]["type"] == "SystemFault"


async def test_a_10000_invoice_company_pages_in_seconds(quickbooks):
    """The benchmark's shape: every invoice read in pages of 1,000 over a real socket."""
    big = quickbooks.add_company("Big", 10_000, seed=77)
    tokens = quickbooks.connect(CLIENT_ID, big.realm_id)
    served = await serve(create_sandbox_app(quickbooks=quickbooks))
    started, seen = time.monotonic(), 0
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            while True:
                text = f"select * from Invoice STARTPOSITION {seen + 1} MAXRESULTS 1000"  # noqa: S608
                answer = await http.get(
                    f"{api(big)}/query",
                    params={"query": text, "minorversion": "75"},
                    headers={"Authorization": f"Bearer {tokens.access_token}"},
                )
                page = answer.json()["QueryResponse"].get("Invoice", [])
                if not page:
                    break
                seen += len(page)
    finally:
        await shut(served)
    assert seen == 10_000
    assert time.monotonic() - started < 10
