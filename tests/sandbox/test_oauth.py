"""The OAuth flow through the consent page, token rotation and the API's 401/403 answers."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.sandbox.conftest import API, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

SCOPE = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


class FormReader(HTMLParser):
    """The consent page's form as a browser would submit it."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.tenants: list[str] = []
        self.buttons: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.action = attributes["action"]
        elif tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes["name"]] = attributes.get("value") or ""
        elif tag == "input" and attributes.get("type") == "checkbox":
            self.tenants.append(attributes["value"])
        elif tag == "button":
            self.buttons.append((attributes["name"], attributes["value"]))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def consent(client, challenge: str = "", state: str = "st-123", decision: str = "allow"):
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": state,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = await client.get("/xero/identity/connect/authorize", params=params)
    assert page.status_code == 200, page.text
    assert "duely sandbox wants access to" in page.text and "duely tests" in page.text
    form = FormReader()
    form.feed(page.text)
    assert ("decision", "allow") in form.buttons and ("decision", "cancel") in form.buttons
    fields = [*form.hidden.items(), ("decision", decision)]
    fields += [("tenant_ids", tenant) for tenant in form.tenants]
    return await client.post(
        form.action,
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def redirect_query(response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def token_call(client, **fields):
    return await client.post(
        "/xero/identity/connect/token", data=fields, headers={"Authorization": BASIC}
    )


async def test_full_flow_with_pkce_reaches_the_tenants_api(client, tenant):
    verifier, challenge = pkce_pair()
    query = redirect_query(await consent(client, challenge))
    assert query["state"] == "st-123"
    response = await token_call(
        client,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert set(tokens) == {
        "id_token",
        "access_token",
        "expires_in",
        "token_type",
        "refresh_token",
        "scope",
    }
    assert tokens["expires_in"] == 1800 and tokens["token_type"] == "Bearer"
    assert tokens["scope"] == SCOPE
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    connections = (await client.get("/xero/connections", headers=bearer)).json()
    assert [c["tenantId"] for c in connections] == [tenant.tenant_id]
    assert connections[0]["tenantName"] == "Acme Trading Ltd"
    assert connections[0]["tenantType"] == "ORGANISATION"
    organisation = await client.get(
        f"{API}/Organisation", headers={**bearer, "xero-tenant-id": tenant.tenant_id}
    )
    assert organisation.status_code == 200
    assert organisation.json()["Organisations"][0]["Name"] == "Acme Trading Ltd"


async def test_wrong_code_verifier_is_invalid_grant(client):
    _, challenge = pkce_pair()
    query = redirect_query(await consent(client, challenge))
    response = await token_call(
        client,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=pkce_pair()[0],
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_plain_flow_with_secret_in_body_and_code_reuse_refused(client):
    query = redirect_query(await consent(client))
    fields = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    first = await client.post("/xero/identity/connect/token", data=fields)
    assert first.status_code == 200, first.text
    again = await client.post("/xero/identity/connect/token", data=fields)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}


async def test_code_expires_after_five_minutes(client, xero):
    query = redirect_query(await consent(client))
    xero.clock.advance(301)
    response = await token_call(
        client, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT_URI
    )
    assert response.json() == {"error": "invalid_grant"}


async def test_token_needs_the_same_redirect_uri_and_the_right_secret(client):
    query = redirect_query(await consent(client))
    wrong_uri = await token_call(
        client,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri="http://127.0.0.1:8000/other",
    )
    assert wrong_uri.status_code == 400 and wrong_uri.json()["error"] == "invalid_grant"
    bad_secret = await client.post(
        "/xero/identity/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": "Basic " + base64.b64encode(b"test-app:nope").decode()},
    )
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"


async def test_cancel_redirects_with_access_denied(client):
    query = redirect_query(await consent(client, decision="cancel"))
    assert query == {"error": "access_denied", "state": "st-123"}


async def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(client):
    response = await client.get(
        "/xero/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:9999/evil",
            "scope": SCOPE,
            "state": "s",
        },
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text
    unknown = await client.get(
        "/xero/identity/connect/authorize",
        params={"response_type": "code", "client_id": "nobody", "redirect_uri": REDIRECT_URI},
    )
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def _tokens(client) -> dict:
    query = redirect_query(await consent(client))
    response = await token_call(
        client, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT_URI
    )
    return response.json()


async def test_refresh_rotates_with_a_grace_period_then_invalid_grant(client, xero):
    tokens = await _tokens(client)
    first = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    xero.clock.advance(29 * 60)
    retried = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == rotated["refresh_token"]
    assert retried.json()["access_token"] == rotated["access_token"]
    xero.clock.advance(2 * 60)
    late = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}
    newest = await token_call(
        client, grant_type="refresh_token", refresh_token=rotated["refresh_token"]
    )
    assert newest.status_code == 200


async def test_refresh_token_unused_for_sixty_days_dies(client, xero):
    tokens = await _tokens(client)
    xero.clock.advance(60 * 86400 + 1)
    response = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert response.json() == {"error": "invalid_grant"}


async def test_expired_access_token_gets_xeros_401(client, xero, tenant):
    tokens = await _tokens(client)
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "xero-tenant-id": tenant.tenant_id,
    }
    assert (await client.get(f"{API}/Invoices", headers=headers)).status_code == 200
    xero.clock.advance(30 * 60)
    response = await client.get(f"{API}/Invoices", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["Type"] is None and body["Title"] == "Unauthorized" and body["Status"] == 401
    assert re.match(
        r"^TokenExpired: token expired at \d\d/\d\d/\d{4} \d\d:\d\d:\d\d$", body["Detail"]
    )
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    unknown = await client.get(f"{API}/Invoices", headers={**headers, "Authorization": "Bearer x"})
    assert unknown.status_code == 401 and unknown.json()["Detail"] == "AuthenticationUnsuccessful"


async def test_tenant_outside_the_grant_is_403(client, xero, auth):
    other = xero.add_tenant("Other Org Ltd", 20, seed=99)
    response = await client.get(
        f"{API}/Invoices", headers={**auth, "xero-tenant-id": other.tenant_id}
    )
    assert response.status_code == 403
    assert response.json()["Detail"] == "AuthenticationUnsuccessful"
    missing = await client.get(f"{API}/Invoices", headers={"Authorization": auth["Authorization"]})
    assert missing.status_code == 403


async def test_revocation_and_disconnect_end_access(client, xero, tenant):
    tokens = await _tokens(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    headers = {**bearer, "xero-tenant-id": tenant.tenant_id}
    connection = (await client.get("/xero/connections", headers=bearer)).json()[0]
    deleted = await client.delete(f"/xero/connections/{connection['id']}", headers=bearer)
    assert deleted.status_code == 204
    assert (await client.get(f"{API}/Invoices", headers=headers)).status_code == 403
    revoked = await client.post(
        "/xero/identity/connect/revocation",
        data={"token": tokens["refresh_token"]},
        headers={"Authorization": BASIC},
    )
    assert revoked.status_code == 200
    refreshed = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed.json() == {"error": "invalid_grant"}
    assert (await client.get("/xero/connections", headers=bearer)).status_code == 401


async def test_read_only_scope_cannot_write(client, xero, tenant):
    tokens = xero.connect(
        CLIENT_ID, [tenant.tenant_id], "offline_access accounting.transactions.read"
    )
    headers = {"Authorization": f"Bearer {tokens.access_token}", "xero-tenant-id": tenant.tenant_id}
    assert (await client.get(f"{API}/Invoices", headers=headers)).status_code == 200
    response = await client.put(f"{API}/Payments", headers=headers, json={"Payments": []})
    assert response.status_code == 401 and response.json()["Detail"] == "AuthorizationUnsuccessful"
    contacts = await client.get(f"{API}/Contacts", headers=headers)
    assert contacts.status_code == 401
