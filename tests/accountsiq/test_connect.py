"""Connecting AccountsIQ from duely's Connections page: the form asks for the Company ID, the
User Key and the location, as AccountsIQ's users are told; what was pasted with stray spaces
and commas still connects; the wrong location and a key that does not sign in are explained
in plain words, and nothing is stored until the keys sign in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from sqlmodel import select

from duely.core.security import SecretBox
from duely.models import Connection, Provider
from duely.sandbox import create_sandbox_app
from duely.sandbox.accountsiq import AccountsIQSandbox
from duely.settings import Settings
from duely.web.app import create_app
from tests.accountsiq.conftest import COMPANY_ID, LOCATION, PARTNER_KEY, USER_KEY
from tests.conftest import csrf_from, login
from tests.serving import serve, shut


@dataclass
class Stack:
    sandbox: AccountsIQSandbox
    settings: Settings
    duely: httpx.AsyncClient


@pytest_asyncio.fixture
async def stack(settings, duely_port) -> AsyncIterator[Stack]:
    sandbox = AccountsIQSandbox()
    sandbox.add_partner_key(PARTNER_KEY)
    sandbox.add_company(
        "Form Ltd", 20, seed=43, region=LOCATION, company_id=COMPANY_ID, user_key=USER_KEY
    )
    sandbox_served = await serve(create_sandbox_app(accountsiq=sandbox))
    settings = settings.model_copy(
        update={
            "accountsiq_url": f"{sandbox_served.url}/accountsiq/{{region}}",
            "accountsiq_partner_key": PARTNER_KEY,
        }
    )
    duely_served = await serve(create_app(settings), duely_port)
    try:
        async with httpx.AsyncClient(base_url=duely_served.url, timeout=30) as duely:
            yield Stack(sandbox, settings, duely)
    finally:
        await shut(duely_served)
        await shut(sandbox_served)


async def submit(stack: Stack, admin: str, **fields: str) -> httpx.Response:
    await login(stack.duely, admin)
    page = await stack.duely.get("/connections")
    assert "Connect to AccountsIQ" in page.text
    form = await stack.duely.get("/connections/accountsiq")
    assert "Request User Key" in form.text
    return await stack.duely.post(
        "/connections/accountsiq/connect",
        data={"_csrf_token": csrf_from(form.text), **fields},
        follow_redirects=False,
    )


def connections(db) -> list[Connection]:
    db.expire_all()
    return list(db.exec(select(Connection)).all())


async def test_keys_pasted_with_stray_spaces_and_commas_connect(stack, db, org_a):
    answer = await submit(
        stack,
        org_a.admin,
        company_id=f" {COMPANY_ID}, ",
        user_key=f"  {USER_KEY},",
        location=LOCATION,
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == "/settings/organisation?connected=1"
    (connection,) = connections(db)
    assert (connection.provider, connection.external_tenant_id, connection.region) == (
        Provider.ACCOUNTSIQ,
        COMPANY_ID,
        LOCATION,
    )
    box = SecretBox(stack.settings.resolved_secret_key)
    assert box.decrypt(connection.refresh_token_encrypted) == USER_KEY
    assert USER_KEY not in connection.refresh_token_encrypted


async def test_the_wrong_location_is_named_and_the_right_one_chosen(stack, db, org_a):
    answer = await submit(
        stack, org_a.admin, company_id=COMPANY_ID, user_key=USER_KEY, location="uk1"
    )
    assert answer.status_code == 400
    assert "is in Europe 2 (EU2), not United Kingdom (UK1)" in answer.text
    assert '<option value="eu2" selected>' in answer.text
    assert USER_KEY not in answer.text  # the key is never sent back
    assert connections(db) == []


async def test_a_key_that_does_not_sign_in_anywhere_is_explained(stack, db, org_a):
    stack.sandbox.store.revoke_user_key(stack.sandbox.store.companies[COMPANY_ID], USER_KEY)
    answer = await submit(
        stack, org_a.admin, company_id=COMPANY_ID, user_key=USER_KEY, location=LOCATION
    )
    assert answer.status_code == 400
    assert "did not accept Company ID" in answer.text
    assert "requesting a new key stops the old one working" in answer.text
    malformed = await submit(
        stack, org_a.admin, company_id=COMPANY_ID, user_key="abc", location=LOCATION
    )
    assert malformed.status_code == 400 and "copy it again" in malformed.text
    assert connections(db) == []
