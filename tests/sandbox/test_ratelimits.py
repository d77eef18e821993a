"""Xero's per-tenant and per-app limits, their headers, and changing them via admin."""

from __future__ import annotations

import asyncio

import httpx

from duely.sandbox.xero.faults import FaultRule
from tests.sandbox.conftest import API


async def test_the_61st_call_in_a_minute_is_refused(client, auth):
    remaining = []
    for _ in range(60):
        response = await client.get(f"{API}/Organisation", headers=auth)
        assert response.status_code == 200
        remaining.append(int(response.headers["x-minlimit-remaining"]))
    assert remaining[0] == 59 and remaining[-1] == 0
    assert int(response.headers["x-daylimit-remaining"]) == 4940
    assert int(response.headers["x-appminlimit-remaining"]) == 9940
    refused = await client.get(f"{API}/Organisation", headers=auth)
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-problem"] == "minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-minlimit-remaining"] == "0"
    connections = await client.get(
        "/xero/connections", headers={"Authorization": auth["Authorization"]}
    )
    assert connections.status_code == 200  # no tenant: only the app's limit applies


async def test_six_calls_in_flight_get_one_concurrent_refusal(server, xero, auth):
    xero.faults.replace([FaultRule(path_contains="/Organisation", latency_ms=300)])
    async with httpx.AsyncClient(base_url=server.url) as http:
        answers = await asyncio.gather(
            *(http.get(f"{API}/Organisation", headers=auth) for _ in range(6))
        )
    statuses = sorted(response.status_code for response in answers)
    assert statuses == [200] * 5 + [429]
    refused = next(response for response in answers if response.status_code == 429)
    assert refused.headers["x-rate-limit-problem"] == "concurrent"
    assert refused.headers["retry-after"] == "1"


async def test_limits_change_only_through_the_admin_api(client, auth):
    assert (await client.get("/xero/_admin/rate-limits")).json() == {
        "concurrent": 5,
        "per_minute": 60,
        "per_day": 5000,
        "app_per_minute": 10000,
        "enabled": True,
    }
    changed = await client.put("/xero/_admin/rate-limits", json={"per_minute": 3})
    assert changed.json()["per_minute"] == 3
    statuses = [
        (await client.get(f"{API}/Invoices?page=1", headers=auth)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    await client.put(
        "/xero/_admin/rate-limits", json={"per_minute": 60, "per_day": 4, "reset_counters": True}
    )
    statuses = []
    for _ in range(5):
        response = await client.get(f"{API}/Organisation", headers=auth)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 429]
    assert response.headers["x-rate-limit-problem"] == "day"
    assert int(response.headers["retry-after"]) > 86000
    await client.put(
        "/xero/_admin/rate-limits",
        json={"per_day": 5000, "app_per_minute": 1, "reset_counters": True},
    )
    assert (await client.get(f"{API}/Organisation", headers=auth)).status_code == 200
    app_limited = await client.get(f"{API}/Organisation", headers=auth)
    assert app_limited.status_code == 429
    assert app_limited.headers["x-rate-limit-problem"] == "appminute"
    bad = await client.put("/xero/_admin/rate-limits", json={"per_hour": 1})
    assert bad.status_code == 400
