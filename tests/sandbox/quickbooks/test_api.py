# ruff: noqa: S608 - QuickBooks queries are SQL-like text built for the sandbox, not a database
"""The QuickBooks sandbox's API: every kind of answer checked against Intuit's XSD (xsd.py), and
its behaviour: paging, CDC, payments and requestid, sparse update and SyncToken, batch, faults,
throttles, token rotation and expiry, webhooks and snapshots."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar, Request, post

from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.webhooks import WebhookSettings
from tests.sandbox.quickbooks.conftest import CLIENT_ID, CLIENT_SECRET, MINOR, REDIRECT_URI, api
from tests.serving import serve, shut


def open_invoice(company, minimum=1000):
    return next(i for i in company.invoices.values() if i.balance >= minimum and not i.linked)


async def query(client, company, auth, text):
    return await client.get(f"{api(company)}/query", params={"query": text, **MINOR}, headers=auth)


async def test_every_answer_matches_intuits_xsd(client, company, auth, xsd):
    for entity in ("Invoice", "Customer", "Payment", "CreditMemo", "Account"):
        answer = await query(client, company, auth, f"select * from {entity} maxresults 20")
        assert answer.status_code == 200
        xsd.check("IntuitResponse", answer.json())
        for body in answer.json()["QueryResponse"][entity]:
            xsd.check(entity, body)
    invoice = open_invoice(company)
    for path, element in (
        (f"invoice/{invoice.id}", "Invoice"),
        (f"customer/{invoice.customer_id}", "Customer"),
        (f"companyinfo/{company.realm_id}", "CompanyInfo"),
        ("preferences", "Preferences"),
    ):
        answer = await client.get(f"{api(company)}/{path}", params=MINOR, headers=auth)
        assert answer.status_code == 200, answer.text
        xsd.check(element, answer.json()[element])
    faults = [
        await client.get(f"{api(company)}/invoice/999999", headers=auth),
        await client.get(f"{api(company)}/invoice/1", headers={"Authorization": "Bearer nope"}),
        await query(client, company, auth, "select * from Invoice where Nope = '1'"),
    ]
    assert [f.status_code for f in faults] == [400, 401, 400]
    assert [f.json()["Fault"]["type"] for f in faults] == [
        "ValidationFault",
        "AuthenticationFault",
        "ValidationFault",
    ]
    assert [f.json()["Fault"]["Error"][0]["code"] for f in faults] == ["610", "3200", "4001"]
    for fault in faults:
        xsd.check("IntuitResponse", fault.json())
    since = (company.created + timedelta(days=380)).isoformat()
    cdc = await client.get(
        f"{api(company)}/cdc",
        params={"entities": "Invoice,Payment", "changedSince": since},
        headers=auth,
    )
    xsd.check("IntuitResponse", cdc.json())


def test_the_xsd_check_catches_what_quickbooks_would_not_send(xsd):
    assert xsd.errors("Invoice", {"Id": "1", "TotalAmt": "lots"})
    assert xsd.errors("Invoice", {"Id": "1", "EmailStatus": "Sent"})
    assert xsd.errors("Invoice", {"Id": "1", "Colour": "red"})
    assert xsd.errors("IntuitResponse", {"Fault": {"Error": [{"Message": "no code"}]}})
    assert not xsd.errors("Invoice", {"Id": "1", "TotalAmt": 10.5, "EmailStatus": "EmailSent"})


async def test_query_pages_exactly(client, company, auth):
    total = len(company.invoices)
    seen = []
    start = 1
    while True:
        answer = (
            await query(
                client, company, auth, f"select * from Invoice STARTPOSITION {start} MAXRESULTS 70"
            )
        ).json()
        page = answer["QueryResponse"].get("Invoice", [])
        if not page:
            break
        assert answer["QueryResponse"]["startPosition"] == start
        assert answer["QueryResponse"]["maxResults"] == len(page)
        assert answer["QueryResponse"]["totalCount"] == total
        seen += [body["Id"] for body in page]
        start += 70
    assert sorted(seen, key=int) == seen and len(set(seen)) == total
    default = (await query(client, company, auth, "select * from Invoice")).json()
    assert len(default["QueryResponse"]["Invoice"]) == 100
    capped = (await query(client, company, auth, "select * from Invoice maxresults 5000")).json()
    assert len(capped["QueryResponse"]["Invoice"]) == total  # under 1000 here
    count = await query(client, company, auth, "select count(*) from Invoice where Balance > '0'")
    assert count.json()["QueryResponse"] == {
        "totalCount": sum(1 for i in company.invoices.values() if i.balance > 0)
    }


async def test_query_operators(client, company, auth):
    invoice = open_invoice(company)
    text = (
        f"select * from Invoice where CustomerRef = '{invoice.customer_id}' and Balance >= '0.01'"
        " and DocNumber LIKE '1%' ORDERBY DueDate DESC"
    )
    bodies = (await query(client, company, auth, text)).json()["QueryResponse"]["Invoice"]
    assert {b["CustomerRef"]["value"] for b in bodies} == {invoice.customer_id}
    assert all(b["Balance"] > 0 for b in bodies)
    assert [b["DueDate"] for b in bodies] == sorted((b["DueDate"] for b in bodies), reverse=True)
    ids = list(company.invoices)[:3]
    chosen = (
        await query(
            client,
            company,
            auth,
            f"select * from Invoice where Id IN ({','.join(repr(i) for i in ids)})",
        )
    ).json()
    assert [b["Id"] for b in chosen["QueryResponse"]["Invoice"]] == ids
    refused = await query(client, company, auth, "select * from Invoice where Id = '1' OR Id = '2'")
    assert refused.status_code == 400 and refused.json()["Fault"]["Error"][0]["code"] == "4000"


async def test_payment_reduces_the_balance_refuses_overpayment_and_requestid_repeats(
    client, company, auth, xsd_when_present
):
    invoice = open_invoice(company)
    before = invoice.balance
    body = {
        "CustomerRef": {"value": invoice.customer_id},
        "TotalAmt": 5.0,
        "PaymentRefNum": "duely-1",
        "Line": [{"Amount": 5.0, "LinkedTxn": [{"TxnId": invoice.id, "TxnType": "Invoice"}]}],
    }
    url = f"{api(company)}/payment"
    first = await client.post(url, json=body, params={**MINOR, "requestid": "pay-1"}, headers=auth)
    assert first.status_code == 200, first.text
    xsd_when_present.check("Payment", first.json()["Payment"])
    assert invoice.balance == before - 500
    again = await client.post(url, json=body, params={**MINOR, "requestid": "pay-1"}, headers=auth)
    assert again.json() == first.json() and invoice.balance == before - 500
    read = await client.get(f"{api(company)}/invoice/{invoice.id}", headers=auth)
    assert read.json()["Invoice"]["Balance"] == (before - 500) / 100
    assert {"TxnId": first.json()["Payment"]["Id"], "TxnType": "Payment"} in read.json()["Invoice"][
        "LinkedTxn"
    ]
    over = {**body, "TotalAmt": before / 100, "Line": [{**body["Line"][0], "Amount": before / 100}]}
    refused = await client.post(url, json=over, headers=auth)
    assert refused.status_code == 400
    xsd_when_present.check("IntuitResponse", refused.json())
    fault = refused.json()["Fault"]
    assert fault["type"] == "ValidationFault" and fault["Error"][0]["code"] == "6000"
    assert invoice.balance == before - 500


async def test_sparse_update_checks_the_sync_token(client, company, auth, xsd_when_present):
    invoice = open_invoice(company)
    url = f"{api(company)}/invoice"
    token = str(invoice.sync_token)
    body = {"Id": invoice.id, "SyncToken": token, "sparse": True, "DueDate": "2030-01-31"}
    updated = await client.post(url, json=body, headers=auth)
    assert updated.status_code == 200, updated.text
    assert updated.json()["Invoice"]["DueDate"] == "2030-01-31"
    xsd_when_present.check("Invoice", updated.json()["Invoice"])
    assert updated.json()["Invoice"]["SyncToken"] == str(int(token) + 1)
    stale = await client.post(url, json={**body, "DueDate": "2031-01-31"}, headers=auth)
    assert stale.status_code == 400
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"
    assert invoice.due_date.isoformat() == "2030-01-31"


async def test_invoice_pdf(client, company, auth):
    invoice = open_invoice(company)
    answer = await client.get(f"{api(company)}/invoice/{invoice.id}/pdf", headers=auth)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-1.4") and answer.content.rstrip().endswith(b"%%EOF")
    assert invoice.doc_number.encode() in answer.content


async def test_change_data_capture(client, company, auth, quickbooks):
    quickbooks.clock.advance(60)
    since = quickbooks.clock.now().isoformat()
    quickbooks.clock.advance(1)
    invoice = open_invoice(company)
    quickbooks.store.edit_invoice(company.realm_id, {"Id": invoice.id, "PrivateNote": "x"})
    gone = next(i for i in company.invoices.values() if not i.linked and i.id != invoice.id)
    quickbooks.store.delete_invoice(company.realm_id, {"Id": gone.id})
    answer = await client.get(
        f"{api(company)}/cdc", params={"entities": "Invoice", "changedSince": since}, headers=auth
    )
    bodies = answer.json()["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
    assert [b["Id"] for b in bodies] == [invoice.id, gone.id]
    assert bodies[1]["status"] == "Deleted"
    too_old = (quickbooks.clock.now() - timedelta(days=31)).isoformat()
    refused = await client.get(
        f"{api(company)}/cdc", params={"entities": "Invoice", "changedSince": too_old}, headers=auth
    )
    assert refused.status_code == 400 and refused.json()["Fault"]["type"] == "ValidationFault"


async def test_cdc_answers_at_most_1000_objects(client, auth, quickbooks, company):
    since = (quickbooks.clock.now() - timedelta(days=29)).isoformat()
    for invoice in list(company.invoices.values())[:300]:
        invoice.updated = quickbooks.clock.now()
    big = quickbooks.add_company("Big", 1500, seed=12)
    for invoice in big.invoices.values():
        invoice.updated = quickbooks.clock.now()
    tokens = quickbooks.connect(CLIENT_ID, big.realm_id)
    answer = await client.get(
        f"{api(big)}/cdc",
        params={"entities": "Invoice", "changedSince": since},
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert len(answer.json()["CDCResponse"][0]["QueryResponse"][0]["Invoice"]) == 1000


async def test_batch(client, company, auth, xsd_when_present):
    invoice = open_invoice(company)
    items = [
        {"bId": "q", "Query": "select * from Customer maxresults 2"},
        {
            "bId": "u",
            "operation": "update",
            "Invoice": {
                "Id": invoice.id,
                "SyncToken": str(invoice.sync_token),
                "sparse": True,
                "PrivateNote": "batched",
            },
        },
        {
            "bId": "bad",
            "operation": "update",
            "Invoice": {"Id": "999999", "SyncToken": "0", "sparse": True},
        },
    ]
    answer = await client.post(
        f"{api(company)}/batch", json={"BatchItemRequest": items}, headers=auth
    )
    assert answer.status_code == 200
    xsd_when_present.check("IntuitResponse", answer.json())
    responses = {r["bId"]: r for r in answer.json()["BatchItemResponse"]}
    assert len(responses["q"]["QueryResponse"]["Customer"]) == 2
    assert responses["u"]["Invoice"]["PrivateNote"] == "batched"
    assert responses["bad"]["Fault"]["Error"][0]["code"] == "610"
    many = [{"bId": str(n), "Query": "select count(*) from Invoice"} for n in range(31)]
    refused = await client.post(
        f"{api(company)}/batch", json={"BatchItemRequest": many}, headers=auth
    )
    assert refused.status_code == 400 and refused.json()["Fault"]["type"] == "ValidationFault"


async def test_faults_injected(client, company, auth):
    await client.put(
        "/quickbooks/_admin/faults", json={"rules": [{"path_contains": "/query", "rate_500": 1.0}]}
    )
    failed = await query(client, company, auth, "select * from Invoice")
    assert failed.status_code == 500 and failed.json()["Fault"]["type"] == "SystemFault"
    await client.put(
        "/quickbooks/_admin/faults",
        json={"rules": [{"path_contains": "/query", "remaining": 1, "fail_with": "429"}]},
    )
    busy = await query(client, company, auth, "select * from Invoice")
    assert busy.status_code == 429 and busy.json()["Fault"]["Error"][0]["code"] == "3001"
    assert (await query(client, company, auth, "select * from Invoice")).status_code == 200


async def test_dropped_answer_still_records_the_payment(server, company, auth):
    invoice = open_invoice(company)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        rule = {"path_contains": "/payment", "method": "POST", "remaining": 1, "fail_with": "drop"}
        await http.put("/quickbooks/_admin/faults", json={"rules": [rule]})
        body = {
            "CustomerRef": {"value": invoice.customer_id},
            "TotalAmt": 1.0,
            "Line": [{"Amount": 1.0, "LinkedTxn": [{"TxnId": invoice.id, "TxnType": "Invoice"}]}],
        }
        with pytest.raises(httpx.TransportError):
            await http.post(
                f"{api(company)}/payment", json=body, params={"requestid": "r-drop"}, headers=auth
            )
        again = await http.post(
            f"{api(company)}/payment", json=body, params={"requestid": "r-drop"}, headers=auth
        )
        assert again.status_code == 200
        paid = await http.get(
            f"/quickbooks/_admin/realms/{company.realm_id}/payments",
            params={"invoice_id": invoice.id},
        )
        assert len(paid.json()) == 1


async def test_throttles(client, company, auth, quickbooks):
    await client.put(
        "/quickbooks/_admin/rate-limits", json={"per_minute": 5, "reset_counters": True}
    )
    answers = [await client.get(f"{api(company)}/preferences", headers=auth) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[-1].json()["Fault"]["type"] == "ThrottleExceeded"
    assert quickbooks.limiter.refused["minute"] == 1
    await client.put(
        "/quickbooks/_admin/rate-limits",
        json={"per_minute": 500, "batch_per_minute": 2, "reset_counters": True},
    )
    batch = {"BatchItemRequest": [{"bId": "1", "Query": "select count(*) from Invoice"}]}
    codes = [
        (await client.post(f"{api(company)}/batch", json=batch, headers=auth)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


async def test_token_rotation_and_expiry(client, quickbooks, company):
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    url = "/quickbooks/oauth2/v1/tokens/bearer"
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    first = (await client.post(url, data=form, headers=headers)).json()
    assert first["expires_in"] == 3600 and first["x_refresh_token_expires_in"] == 100 * 86400
    assert first["refresh_token"] != tokens.refresh_token
    assert (await client.post(url, data=form, headers=headers)).json() == first  # grace
    quickbooks.clock.advance(31 * 60)
    late = await client.post(url, data=form, headers=headers)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    old = await client.get(
        f"{api(company)}/preferences", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert old.status_code == 200
    quickbooks.clock.advance(3600)
    expired = await client.get(
        f"{api(company)}/preferences", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert expired.status_code == 401 and expired.json()["Fault"]["type"] == "AuthenticationFault"
    quickbooks.clock.advance(101 * 86400)
    unused = await client.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=headers,
    )
    assert unused.json()["error"] == "invalid_grant"


async def test_refresh_never_outlives_five_years(client, quickbooks, company):
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    refresh = tokens.refresh_token
    for _ in range(18):  # 18 x 99 days: 5 years less 43 days
        quickbooks.clock.advance(99 * 86400)
        answer = await client.post(
            "/quickbooks/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            headers={"Authorization": f"Basic {basic}"},
        )
        refresh = answer.json()["refresh_token"]
    assert answer.json()["x_refresh_token_expires_in"] < 100 * 86400


async def test_other_realm_is_an_authorization_fault(client, quickbooks, company, auth):
    other = quickbooks.add_company("Other", 5, seed=99)
    answer = await client.get(f"{api(other)}/preferences", headers=auth)
    assert answer.status_code == 403 and answer.json()["Fault"]["type"] == "AuthorizationFault"


@pytest.mark.parametrize("shape", ["legacy", "cloudevents"])
async def test_webhooks_are_signed_in_both_shapes(shape):
    received: list[tuple[bytes, str]] = []

    @post("/hook", status_code=200)
    async def hook(request: Request) -> None:
        received.append((await request.body(), request.headers.get("intuit-signature", "")))

    receiver = await serve(Litestar([hook]))
    quickbooks = QuickBooksSandbox(webhook_settings=WebhookSettings(batch_delay=0.05))
    quickbooks.register_app(
        CLIENT_ID, CLIENT_SECRET, "t", [REDIRECT_URI], f"{receiver.url}/hook", "verifier", shape
    )
    company = quickbooks.add_company("Hooked", 20, seed=5)
    quickbooks.connect(CLIENT_ID, company.realm_id)
    served = await serve(create_sandbox_app(quickbooks=quickbooks))
    try:
        invoice = next(iter(company.invoices.values()))
        async with httpx.AsyncClient(base_url=served.url) as http:
            await http.patch(
                f"/quickbooks/_admin/realms/{company.realm_id}/invoices/{invoice.id}",
                json={"DueDate": "2031-01-01"},
            )
            await quickbooks.webhooks.wait_idle()
    finally:
        await shut(served)
        await shut(receiver)
    body, signature = received[0]
    expected = base64.b64encode(hmac.new(b"verifier", body, hashlib.sha256).digest()).decode()
    assert signature == expected
    payload = json.loads(body)
    if shape == "legacy":
        notification = payload["eventNotifications"][0]
        assert notification["realmId"] == company.realm_id
        entity = notification["dataChangeEvent"]["entities"][0]
        assert (entity["name"], entity["id"], entity["operation"]) == (
            "Invoice",
            invoice.id,
            "Update",
        )
    else:
        event = payload[0]
        assert event["specversion"] == "1.0" and event["type"] == "qbo.invoice.updated.v1"
        assert (event["intuitentityid"], event["intuitaccountid"]) == (invoice.id, company.realm_id)


async def test_snapshot_survives_a_restart(tmp_path, quickbooks, company):
    path = tmp_path / "quickbooks.json"
    invoice = open_invoice(company)
    quickbooks.store.pay_in_full(company.realm_id, invoice.id)
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    quickbooks.save_snapshot(path)
    restarted = QuickBooksSandbox.with_demo(snapshot_path=path)
    again = restarted.store.company(company.realm_id)
    assert again.invoices[invoice.id].balance == 0
    assert restarted.identity.authenticate(tokens.access_token) is not None
    assert len(again.payments) == len(company.payments)


def test_demo_company_and_a_big_seed():
    import time

    demo = QuickBooksSandbox.with_demo()
    company = next(iter(demo.store.companies.values()))
    assert company.name == "Demo Trading Ltd (QuickBooks)" and len(company.invoices) == 300
    assert len(company.credit_memos) >= 3
    assert all(c.email and c.phone for c in company.customers.values())
    again = QuickBooksSandbox.with_demo()
    assert next(iter(again.store.companies.values())).invoices.keys() == company.invoices.keys()
    started = time.monotonic()
    QuickBooksSandbox().add_company("Big", 10_000, seed=3)
    assert time.monotonic() - started < 5


async def test_state_survives_a_server_restart(tmp_path):
    """Stopping the server saves the snapshot; the next start (with_demo) loads it."""
    path = tmp_path / "sandbox" / "quickbooks.json"
    first = QuickBooksSandbox.with_demo(snapshot_path=path)
    company = next(iter(first.store.companies.values()))
    invoice = open_invoice(company)
    served = await serve(create_sandbox_app(quickbooks=first))
    async with httpx.AsyncClient(base_url=served.url) as http:
        paid = await http.post(
            f"/quickbooks/_admin/realms/{company.realm_id}/invoices/{invoice.id}/pay", json={}
        )
        assert paid.status_code == 201
    await shut(served)
    assert path.exists()
    second = QuickBooksSandbox.with_demo(snapshot_path=path)
    served = await serve(create_sandbox_app(quickbooks=second))
    async with httpx.AsyncClient(base_url=served.url) as http:
        again = await http.get(
            f"/quickbooks/_admin/realms/{company.realm_id}/invoices/{invoice.id}"
        )
    await shut(served)
    assert again.json()["Balance"] == 0
    assert again.json()["LinkedTxn"] == [{"TxnId": paid.json()["Id"], "TxnType": "Payment"}]
