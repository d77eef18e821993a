"""Signing in, sessions, CSRF and roles on the pages."""

from sqlmodel import select

from duely.models import User
from tests.conftest import PASSWORD, csrf_from, login


async def test_pages_send_strangers_to_sign_in(client):
    response = await client.get("/settings/organisation", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/settings/organisation"


async def test_sign_in_and_out(client, org_a):
    await login(client, org_a.admin)
    home = await client.get("/")
    assert home.status_code == 200
    assert "Alpha Ltd" in home.text and org_a.admin in home.text

    await client.post("/logout", data={"_csrf_token": csrf_from(home.text)})
    assert (await client.get("/", follow_redirects=False)).status_code == 302


async def test_wrong_password_is_refused_with_a_message(client, org_a):
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": org_a.admin,
            "password": "not it at all",
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 400
    assert "Wrong email or password" in response.text
    assert (await client.get("/", follow_redirects=False)).status_code == 302


async def test_login_never_redirects_off_site(client, org_a):
    page = await client.get("/login?next=//evil.example/")
    assert 'value="/"' in page.text
    response = await client.post(
        "/login",
        data={
            "email": org_a.admin,
            "password": PASSWORD,
            "next": "//evil.example/",
            "_csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


async def test_passwords_are_stored_as_argon2_hashes(db, org_a):
    user = db.exec(select(User).where(User.email == org_a.admin)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_a_post_without_the_csrf_token_is_rejected(client, org_a):
    await login(client, org_a.admin)
    response = await client.post("/settings/organisation", data={"name": "Hijacked"})
    assert response.status_code == 403
    settings_page = await client.get("/settings/organisation")
    assert "Hijacked" not in settings_page.text


async def test_an_htmx_post_with_a_forged_header_is_rejected(client, org_a):
    await login(client, org_a.admin)
    response = await client.post(
        "/settings/organisation",
        data={"name": "Hijacked"},
        headers={"HX-Request": "true", "x-csrftoken": "forged"},
    )
    assert response.status_code == 403


async def test_login_form_itself_needs_the_csrf_token(client, org_a):
    response = await client.post("/login", data={"email": org_a.admin, "password": PASSWORD})
    assert response.status_code == 403


async def test_password_guessing_is_throttled(client, org_a):
    page = await client.get("/login")
    form = {"email": org_a.admin, "password": "guess", "_csrf_token": csrf_from(page.text)}
    statuses = [(await client.post("/login", data=form)).status_code for _ in range(20)]
    assert statuses == [400] * 20
    assert (await client.post("/login", data=form)).status_code == 429
    token = await client.post("/api/v1/auth/token", json={"email": org_a.admin, "password": "x"})
    assert token.status_code == 429
