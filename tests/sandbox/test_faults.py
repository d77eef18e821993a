"""Fault injection: latency, 429, 500, and dropped responses over a real socket."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.sandbox.conftest import API


def open_invoice(tenant):
    return next(
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == "AUTHORISED" and i.currency == "GBP"
    )


async def test_dropped_response_still_records_the_payment(server, auth, tenant):
    invoice = open_invoice(tenant)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        rule = {"path_contains": "/Payments", "method": "PUT", "remaining": 1, "fail_with": "drop"}
        assert (await http.put("/xero/_admin/faults", json={"rules": [rule]})).status_code == 200
        body = {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": invoice.invoice_id},
                    "Account": {"Code": "090"},
                    "Date": "2026-01-10",
                    "Amount": 3,
                    "Reference": "dropped-1",
                }
            ]
        }
        with pytest.raises(httpx.TransportError):
            await http.put(f"{API}/Payments", json=body, headers=auth)
        payments = await http.get(
            f"/xero/_admin/tenants/{tenant.tenant_id}/payments", params={"reference": "dropped-1"}
        )
        assert len(payments.json()) == 1
        assert payments.json()[0]["Invoice"]["InvoiceID"] == invoice.invoice_id
        assert (await http.get("/xero/_admin/faults")).json() == []  # one-shot rule retired
        again = await http.get(
            f"{API}/Payments", params={"where": 'Reference=="dropped-1"'}, headers=auth
        )
        assert again.status_code == 200 and len(again.json()["Payments"]) == 1


async def test_injected_500_and_429_and_latency(client, auth, xero):
    rules = [{"path_contains": "/Invoices", "rate_500": 1.0}]
    await client.put("/xero/_admin/faults", json={"rules": rules})
    failed = await client.get(f"{API}/Invoices?page=1", headers=auth)
    assert failed.status_code == 500
    assert (await client.get(f"{API}/Organisation", headers=auth)).status_code == 200
    await client.put(
        "/xero/_admin/faults",
        json={
            "rules": [
                {"path_contains": "/Invoices", "remaining": 2, "fail_with": "429", "retry_after": 7}
            ]
        },
    )
    statuses = []
    for _ in range(3):
        response = await client.get(f"{API}/Invoices?page=1", headers=auth)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "7"
            assert "x-minlimit-remaining" in response.headers
    assert statuses == [429, 429, 200]
    await client.put("/xero/_admin/faults", json={"rules": [{"latency_ms": 150}]})
    started = time.monotonic()
    await client.get(f"{API}/Organisation", headers=auth)
    assert time.monotonic() - started >= 0.15
    assert (await client.delete("/xero/_admin/faults")).status_code == 204
    assert xero.faults.rules == []


async def test_fault_rules_filter_by_tenant(client, auth, xero):
    other = xero.add_tenant("Elsewhere Ltd", 10, seed=77)
    await client.put(
        "/xero/_admin/faults", json={"rules": [{"tenant_id": other.tenant_id, "rate_500": 1.0}]}
    )
    assert (await client.get(f"{API}/Organisation", headers=auth)).status_code == 200
    bad = await client.put("/xero/_admin/faults", json={"rules": [{"rate_500": 2}]})
    assert bad.status_code == 400
