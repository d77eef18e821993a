"""Connecting QuickBooks from duely's Connections page, through the real redirects: duely ->
the sandbox's consent page (pick the company) -> duely's callback with code, state and
realmId. The connection is stored under the company's name with its tokens encrypted; a stale
or refused answer is a clear page and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from sqlmodel import select

from duely.core.security import SecretBox
from duely.models import Connection, Provider
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.consent import connect_company
from duely.settings import Settings
from duely.web.app import create_app
from tests.conftest import csrf_from, login
from tests.serving import serve, shut

CLIENT_ID, CLIENT_SECRET = "duely-qb-web", "duely-qb-web-secret"


@dataclass
class Stack:
    sandbox: QuickBooksSandbox
    settings: Settings
    duely: httpx.AsyncClient


@pytest_asyncio.fixture
async def stack(settings, duely_port, sandbox_port) -> AsyncIterator[Stack]:
    duely_url = f"http://127.0.0.1:{duely_port}"
    sandbox = QuickBooksSandbox()
    sandbox.register_app(
        CLIENT_ID, CLIENT_SECRET, "duely", [f"{duely_url}/connections/quickbooks/callback"]
    )
    sandbox.add_company("Web Connected Ltd", 30, seed=61)
    sandbox.add_company("Other Company Ltd", 10, seed=62)
    sandbox_served = await serve(create_sandbox_app(quickbooks=sandbox), sandbox_port)
    settings = settings.model_copy(
        update={
            "public_url": duely_url,
            "sandbox_port": sandbox_port,
            "quickbooks_client_id": CLIENT_ID,
            "quickbooks_client_secret": CLIENT_SECRET,
            "quickbooks_auth_url": "",
            "quickbooks_token_url": "",
            "quickbooks_revoke_url": "",
            "quickbooks_api_url": "",
        }
    )
    settings = type(settings).model_validate(settings.model_dump())  # URLs follow the port
    duely_served = await serve(create_app(settings), duely_port)
    try:
        async with httpx.AsyncClient(base_url=duely_served.url, timeout=30) as duely:
            yield Stack(sandbox, settings, duely)
    finally:
        await shut(duely_served)
        await shut(sandbox_served)


async def start_connecting(duely: httpx.AsyncClient, admin: str) -> str:
    await login(duely, admin)
    page = await duely.get("/connections")
    assert "Connect to QuickBooks" in page.text
    start = await duely.post(
        "/connections/quickbooks/connect",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert start.status_code == 303
    return start.headers["location"]


async def test_an_admin_connects_a_quickbooks_company_through_the_real_redirects(stack, db, org_a):
    authorize_url = await start_connecting(stack.duely, org_a.admin)
    answer = await connect_company(authorize_url, "Web Connected Ltd")
    callback = await stack.duely.get(
        "/connections/quickbooks/callback", params=answer, follow_redirects=False
    )

    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == "/settings/organisation?connected=1"
    db.expire_all()
    (connection,) = db.exec(select(Connection)).all()
    company = stack.sandbox.store.company(answer["realmId"])
    assert (connection.provider, connection.external_tenant_id, connection.tenant_name) == (
        Provider.QUICKBOOKS,
        company.realm_id,
        "Web Connected Ltd",
    )
    # Its tokens are stored encrypted, and they are the ones QuickBooks issued for the company.
    access = SecretBox(stack.settings.resolved_secret_key).decrypt(
        connection.access_token_encrypted
    )
    assert access not in connection.access_token_encrypted
    async with httpx.AsyncClient() as http:
        info = await http.get(
            f"{stack.settings.quickbooks_api_url}/v3/company/{company.realm_id}/preferences",
            params={"minorversion": "75"},
            headers={"Authorization": f"Bearer {access}"},
        )
    assert info.status_code == 200
    listed = await stack.duely.get("/connections")
    assert "QuickBooks · Web Connected Ltd" in listed.text


async def test_a_stale_or_refused_answer_stores_nothing(stack, db, org_a):
    authorize_url = await start_connecting(stack.duely, org_a.admin)
    answer = await connect_company(authorize_url, "Web Connected Ltd")
    forged = await stack.duely.get(
        "/connections/quickbooks/callback", params={**answer, "state": "not-ours"}
    )
    assert forged.status_code == 400 and "stale" in forged.text
    refused = await stack.duely.get(
        "/connections/quickbooks/callback", params={"error": "access_denied"}
    )
    assert refused.status_code == 400 and "did not grant access" in refused.text
    db.expire_all()
    assert db.exec(select(Connection)).all() == []
