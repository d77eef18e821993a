"""Sessions that end and API tokens that can be revoked (security issue 12, finding 4).

Browser sessions live in the database: signing out, a password change, the idle limit and the
absolute lifetime end them, and a cookie captured before then opens nothing after. API tokens
have a name and an expiry, are listed without their secret, and can be revoked by their owner
or an organisation's admin. Two apps on one database stand for two web processes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta

import pytest
from alembic.script import ScriptDirectory
from litestar.testing import AsyncTestClient
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.migrate import _config, upgrade
from duely.models import ApiToken, User, UTCDateTime, WebSession, utcnow
from duely.web.app import create_app
from tests.conftest import PASSWORD, POSTGRES_URL, _pg_admin, csrf_from, login
from tests.test_opt_outs_migration import ORGANISATIONS_0004

COOKIE = "duely_session"
HTMX = {"HX-Request": "true"}
NEW_PASSWORD = "a brand new passphrase"


@asynccontextmanager
async def web_process(settings) -> AsyncIterator[AsyncTestClient]:
    """Another app on the same database: a second web process, or a second browser."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def session_cookie(client: AsyncTestClient) -> str:
    value = client.cookies.get(COOKIE)
    assert value, "no session cookie"
    return value


async def page_with(client: AsyncTestClient, cookie: str, path: str = "/"):
    """`path` requested with exactly this session cookie (as someone who copied it would)."""
    client.cookies.clear()
    return await client.get(path, headers={"Cookie": f"{COOKIE}={cookie}"}, follow_redirects=False)


def session_row(db, cookie: str) -> WebSession:
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    db.expire_all()
    return db.exec(select(WebSession).where(WebSession.id_digest == digest)).one()


async def sign_out(client: AsyncTestClient) -> None:
    home = await client.get("/")
    response = await client.post(
        "/logout", data={"_csrf_token": csrf_from(home.text)}, follow_redirects=False
    )
    assert response.headers["location"] == "/login"


async def mint(client: AsyncTestClient, email: str, **fields) -> dict:
    response = await client.post(
        "/api/v1/auth/token", json={"email": email, "password": PASSWORD, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(minted: dict) -> dict:
    return {"Authorization": f"Bearer {minted['token']}"}


def _from_now(iso: str) -> float:
    """Seconds from now until the instant `iso`."""
    return (datetime.fromisoformat(iso) - utcnow()).total_seconds()


# --- sessions ----------------------------------------------------------------------------------


async def test_a_session_cookie_captured_before_logout_is_refused_after_it(client, settings, org_a):
    await login(client, org_a.admin)
    captured = session_cookie(client)
    async with web_process(settings) as thief:
        assert (await page_with(thief, captured)).status_code == 200  # any process knows it
        await sign_out(client)
        refused = await page_with(thief, captured, "/settings/organisation")
    assert refused.status_code == 302
    assert refused.headers["location"] == "/login?next=/settings/organisation"


async def test_the_cookie_holds_a_random_id_and_the_database_only_its_digest(
    client, db, settings, org_a
):
    await login(client, org_a.collector)
    cookie = session_cookie(client)
    row = session_row(db, cookie)
    user = db.exec(select(User).where(User.email == org_a.collector)).one()
    assert (row.user_id, row.organisation_id) == (user.id, org_a.id)
    assert cookie not in row.id_digest and cookie not in row.data
    assert row.revoked_at is None
    assert row.expires_at - row.created_at == timedelta(seconds=settings.session_max_age_seconds)


async def test_signing_in_again_starts_a_new_session_and_ends_the_old_one(client, org_a):
    await login(client, org_a.admin)
    first = session_cookie(client)
    await login(client, org_a.admin)
    second = session_cookie(client)
    assert second != first
    assert (await page_with(client, first)).status_code == 302
    assert (await page_with(client, second)).status_code == 200


async def test_an_idle_session_ends_and_so_does_one_past_its_lifetime(client, db, org_a):
    await login(client, org_a.viewer)
    idle = session_cookie(client)
    row = session_row(db, idle)
    row.last_seen_at = utcnow() - timedelta(hours=25)
    db.add(row)
    db.commit()
    assert (await page_with(client, idle)).status_code == 302

    await login(client, org_a.viewer)
    old = session_cookie(client)
    row = session_row(db, old)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    assert (await page_with(client, old)).status_code == 302


async def test_a_password_change_ends_the_users_other_sessions(client, settings, org_a):
    await login(client, org_a.collector)
    async with web_process(settings) as laptop, web_process(settings) as colleague:
        await login(laptop, org_a.collector)
        await login(colleague, org_a.admin)
        page = await client.get("/account")
        changed = await client.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
                "_csrf_token": csrf_from(page.text),
            },
            headers=HTMX,
        )
        assert changed.status_code == 200
        assert "Password changed. 1 other session signed out." in changed.text

        assert (await laptop.get("/", follow_redirects=False)).status_code == 302
        assert (await client.get("/", follow_redirects=False)).status_code == 200
        assert (await colleague.get("/", follow_redirects=False)).status_code == 200
    await login(client, org_a.collector, NEW_PASSWORD)


async def test_a_wrong_current_password_changes_nothing(client, settings, org_a):
    await login(client, org_a.collector)
    async with web_process(settings) as laptop:
        await login(laptop, org_a.collector)
        page = await client.get("/account")
        refused = await client.post(
            "/account/password",
            data={
                "current_password": "not my password",
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
                "_csrf_token": csrf_from(page.text),
            },
            headers=HTMX,
        )
        assert refused.status_code == 422
        assert "Your current password is not the one you typed." in refused.text
        assert (await laptop.get("/", follow_redirects=False)).status_code == 200
    await login(client, org_a.collector, PASSWORD)


# --- API tokens --------------------------------------------------------------------------------


async def test_a_token_is_minted_with_a_name_and_a_chosen_expiry(client, settings, org_a):
    weekly = await mint(client, org_a.collector, name="weekly export", expires_in_days=7)
    assert weekly["name"] == "weekly export"
    assert _from_now(weekly["expires_at"]) == pytest.approx(
        timedelta(days=7).total_seconds(), abs=60
    )

    plain = await mint(client, org_a.collector)
    assert plain["name"] == "API token"
    assert _from_now(plain["expires_at"]) == pytest.approx(settings.api_token_ttl_seconds, abs=60)

    too_long = await client.post(
        "/api/v1/auth/token",
        json={"email": org_a.collector, "password": PASSWORD, "expires_in_days": 3650},
    )
    assert too_long.status_code == 400
    assert "1 to 365 days" in too_long.json()["detail"]


async def test_tokens_are_listed_without_their_secrets(client, org_a, org_b):
    first = await mint(client, org_a.collector, name="first")
    second = await mint(client, org_a.collector, name="second")
    admins = await mint(client, org_a.admin, name="admin's")
    await mint(client, org_b.admin, name="bravo's")

    mine = await client.get("/api/v1/auth/tokens", headers=bearer(first))
    assert mine.status_code == 200
    body = mine.json()
    assert [item["name"] for item in body["items"]] == ["second", "first"]
    assert body["total"] == 2
    assert {item["status"] for item in body["items"]} == {"active"}
    assert {item["user_email"] for item in body["items"]} == {org_a.collector}
    for secret in (first["token"], second["token"]):
        assert secret not in mine.text
        assert hashlib.sha256(secret.encode()).hexdigest() not in mine.text
    assert "token_hash" not in mine.text

    everyone = (await client.get("/api/v1/auth/tokens", headers=bearer(admins))).json()
    assert [item["name"] for item in everyone["items"]] == ["admin's", "second", "first"]


async def test_a_revoked_token_is_refused_saying_so(client, org_a):
    minted = await mint(client, org_a.collector, name="leaked")
    revoked = await client.delete(f"/api/v1/auth/tokens/{minted['id']}", headers=bearer(minted))
    assert revoked.status_code == 204
    refused = await client.get("/api/v1/invoices", headers=bearer(minted))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]

    other = await mint(client, org_a.collector)
    listed = (await client.get("/api/v1/auth/tokens", headers=bearer(other))).json()
    statuses = {item["name"]: item["status"] for item in listed["items"]}
    assert statuses["leaked"] == "revoked"


async def test_an_expired_token_is_refused_saying_so(client, db, org_a):
    minted = await mint(client, org_a.viewer)
    row = db.get(ApiToken, minted["id"])
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.add(row)
    db.commit()
    refused = await client.get("/api/v1/invoices", headers=bearer(minted))
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


async def test_an_admin_revokes_a_collectors_token_but_not_another_organisations(
    client, org_a, org_b
):
    admin = await mint(client, org_a.admin)
    collectors = await mint(client, org_a.collector)
    theirs = await mint(client, org_b.collector)

    revoked = await client.delete(f"/api/v1/auth/tokens/{collectors['id']}", headers=bearer(admin))
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/invoices", headers=bearer(collectors))).status_code == 401

    refused = await client.delete(f"/api/v1/auth/tokens/{theirs['id']}", headers=bearer(admin))
    assert refused.status_code == 404
    assert (await client.get("/api/v1/invoices", headers=bearer(theirs))).status_code == 200


async def test_a_viewer_cannot_revoke_someone_elses_token(client, org_a):
    viewer = await mint(client, org_a.viewer)
    collectors = await mint(client, org_a.collector)
    refused = await client.delete(f"/api/v1/auth/tokens/{collectors['id']}", headers=bearer(viewer))
    assert refused.status_code == 404
    assert (await client.get("/api/v1/invoices", headers=bearer(collectors))).status_code == 200
    listed = (await client.get("/api/v1/auth/tokens", headers=bearer(viewer))).json()
    assert [item["id"] for item in listed["items"]] == [viewer["id"]]


async def test_a_tokens_last_use_is_written_at_most_once_a_minute(client, db, org_a):
    minted = await mint(client, org_a.viewer)
    assert db.get(ApiToken, minted["id"]).last_used_at is None

    await client.get("/api/v1/invoices", headers=bearer(minted))
    db.expire_all()
    first_use = db.get(ApiToken, minted["id"]).last_used_at
    assert first_use is not None
    await client.get("/api/v1/invoices", headers=bearer(minted))
    db.expire_all()
    assert db.get(ApiToken, minted["id"]).last_used_at == first_use

    row = db.get(ApiToken, minted["id"])
    row.last_used_at = utcnow() - timedelta(minutes=2)
    db.add(row)
    db.commit()
    await client.get("/api/v1/invoices", headers=bearer(minted))
    db.expire_all()
    assert db.get(ApiToken, minted["id"]).last_used_at > first_use


async def test_the_account_page_mints_lists_and_revokes_tokens(client, settings, org_a):
    await login(client, org_a.collector)
    page = await client.get("/account")
    assert page.status_code == 200 and "No API tokens yet." in page.text
    csrf = csrf_from(page.text)

    minted = await client.post(
        "/account/tokens",
        data={"name": "spreadsheet", "expires_in_days": "30", "_csrf_token": csrf},
        headers=HTMX,
    )
    assert minted.status_code == 200
    assert 'id="api-tokens"' in minted.text and "<html" not in minted.text  # the section alone
    assert "it will not be shown again" in minted.text
    secret = re.search(r'value="(duely_[^"]+)"', minted.text).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/invoices", headers=headers)).status_code == 200

    again = await client.get("/account")
    assert "spreadsheet" in again.text and secret not in again.text
    token_id = (await client.get("/api/v1/auth/tokens", headers=headers)).json()["items"][0]["id"]

    async with web_process(settings) as viewer:
        await login(viewer, org_a.viewer)
        viewer_page = await viewer.get("/account")
        assert "spreadsheet" not in viewer_page.text
        not_theirs = await viewer.post(
            f"/account/tokens/{token_id}/revoke",
            data={"_csrf_token": csrf_from(viewer_page.text)},
            headers=HTMX,
        )
        assert not_theirs.status_code == 404
    assert (await client.get("/api/v1/invoices", headers=headers)).status_code == 200

    revoked = await client.post(
        f"/account/tokens/{token_id}/revoke", data={"_csrf_token": csrf}, headers=HTMX
    )
    assert revoked.status_code == 200 and "revoked" in revoked.text
    refused = await client.get("/api/v1/invoices", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


async def test_an_admin_sees_and_revokes_the_organisations_tokens_on_the_account_page(
    client, org_a, org_b
):
    collectors = await mint(client, org_a.collector, name="collector script")
    await mint(client, org_b.admin, name="bravo script")
    await login(client, org_a.admin)
    page = await client.get("/account")
    assert "collector script" in page.text and org_a.collector in page.text
    assert "bravo script" not in page.text
    revoked = await client.post(
        f"/account/tokens/{collectors['id']}/revoke",
        data={"_csrf_token": csrf_from(page.text)},
        headers=HTMX,
    )
    assert revoked.status_code == 200
    assert (await client.get("/api/v1/invoices", headers=bearer(collectors))).status_code == 401


# --- the migration -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request, tmp_path) -> Iterator[str]:
    """An empty database, not migrated at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'unmigrated.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("DUELY_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"duely_mig_{uuid.uuid4().hex[:10]}"
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_tokens_made_before_names_are_named_and_live_at_most_90_days_more(unmigrated_url):
    """Tokens minted before migration 0008 get a name, and none lives on for more than 90 days
    after it (one due to end sooner keeps its own expiry)."""
    url = unmigrated_url
    before = ScriptDirectory.from_config(_config()).get_revision("0008").down_revision
    upgrade(url, before)
    insert = text(
        "INSERT INTO api_tokens (organisation_id, user_id, token_hash, created_at, expires_at)"
        " VALUES (:organisation_id, :user_id, :token_hash, :created_at, :expires_at)"
    ).bindparams(
        bindparam("created_at", type_=UTCDateTime()), bindparam("expires_at", type_=UTCDateTime())
    )
    now = utcnow()
    engine = make_sync_engine(url)
    try:
        # Written as that revision has the rows: the models know later columns.
        with engine.begin() as connection:
            connection.execute(
                ORGANISATIONS_0004.insert().values(
                    id=1,
                    name="Old Tokens Ltd",
                    country="GB",
                    timezone="Europe/London",
                    base_currency="GBP",
                    send_window_start=time(9),
                    send_window_end=time(17),
                    chase_mode="all",
                    sender_name="",
                    created_at=now,
                )
            )
            connection.execute(
                text(
                    "INSERT INTO users (id, organisation_id, email, name, password_hash, role,"
                    " created_at) VALUES (1, 1, 'old@tokens.test', '', 'x', 'admin', :created_at)"
                ).bindparams(bindparam("created_at", type_=UTCDateTime())),
                {"created_at": now},
            )
            for digest, expires_at in (("a" * 64, now + timedelta(days=400)), ("b" * 64, now)):
                connection.execute(
                    insert,
                    {
                        "organisation_id": 1,
                        "user_id": 1,
                        "token_hash": digest,
                        "created_at": now,
                        "expires_at": expires_at,
                    },
                )
        upgrade(url)
        with Session(engine) as session:
            tokens = {row.token_hash[0]: row for row in session.exec(select(ApiToken)).all()}
    finally:
        engine.dispose()
    assert {token.name for token in tokens.values()} == {"token made before names"}
    assert abs(tokens["a"].expires_at - (now + timedelta(days=90))) < timedelta(minutes=1)
    assert tokens["b"].expires_at == now
    assert tokens["a"].revoked_at is None and tokens["b"].revoked_at is None
