"""Card payment settings (Stripe) on the settings page and in `/api/v1/organisation`: admins
set them; secrets are encrypted at rest, write-only, and never in any answer."""

from __future__ import annotations

import pytest

from duely.core.security import SecretBox
from duely.models import Organisation
from duely.payments.stripe_accounts import payment_account_for, stripe_account_of
from tests.conftest import api_token, csrf_from, login

SECRET_KEY = "sk_test_51AlphaSecretKeyDoNotShow9XyZ"
OTHER_SECRET_KEY = "sk_live_51AnotherSecretKeyQwErTy1234"
WEBHOOK_SECRET = "whsec_AlphaWebhookSecretNeverShown42"
PUBLISHABLE_KEY = "pk_test_51AlphaPublishableKey"
ACCOUNT_ID = "acct_1AlphaConnected9"
SECRETS = (SECRET_KEY, OTHER_SECRET_KEY, WEBHOOK_SECRET)
HTMX = {"HX-Request": "true"}

FULL = {
    "secret_key": SECRET_KEY,
    "publishable_key": PUBLISHABLE_KEY,
    "webhook_secret": WEBHOOK_SECRET,
    "payment_accounts": "gbp=090, eur=091 *=615",
    "account_id": "",
}


def stored(db, org_id: int) -> Organisation:
    return db.get(Organisation, org_id, populate_existing=True)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def _post(client, data: dict, htmx: bool = True):
    page = await client.get("/settings/organisation")
    token = csrf_from(page.text)
    if htmx:
        headers = {**HTMX, "x-csrftoken": token}
        return await client.post("/settings/organisation/stripe", data=data, headers=headers)
    return await client.post("/settings/organisation/stripe", data={**data, "_csrf_token": token})


# --- the settings page -------------------------------------------------------------------------


async def test_admin_sets_card_payments_and_secrets_are_encrypted(client, db, settings, org_a):
    await login(client, org_a.admin)
    before = await client.get("/settings/organisation")
    assert "Card payments (Stripe)" in before.text and "Customers cannot pay by card" in before.text

    response = await _post(client, FULL)
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith('<form id="stripe-form"')
    assert "Card payment settings saved." in response.text
    assert_no_secret(response.text)
    assert "ends in <code>9XyZ</code>" in response.text
    assert PUBLISHABLE_KEY in response.text

    organisation = stored(db, org_a.id)
    box = SecretBox(settings.resolved_secret_key)
    assert SECRET_KEY not in organisation.stripe_secret_key_encrypted
    assert box.decrypt(organisation.stripe_secret_key_encrypted) == SECRET_KEY
    assert box.decrypt(organisation.stripe_webhook_secret_encrypted) == WEBHOOK_SECRET
    assert organisation.stripe_publishable_key == PUBLISHABLE_KEY
    assert organisation.payment_accounts == "GBP=090 EUR=091 *=615"
    assert payment_account_for(organisation, "eur") == "091"
    assert payment_account_for(organisation, "USD") == "615"
    account = stripe_account_of(settings, organisation)
    assert account is not None and account.secret_key == SECRET_KEY

    page = await client.get("/settings/organisation")
    assert_no_secret(page.text)
    assert "Own Stripe account" in page.text and "Remove the stored secret key" in page.text


async def test_empty_secret_fields_keep_the_stored_secrets(client, db, settings, org_a):
    await login(client, org_a.admin)
    await _post(client, FULL)
    response = await _post(
        client,
        {**FULL, "secret_key": "", "webhook_secret": "", "payment_accounts": "GBP=200"},
    )
    assert response.status_code == 200
    organisation = stored(db, org_a.id)
    box = SecretBox(settings.resolved_secret_key)
    assert box.decrypt(organisation.stripe_secret_key_encrypted) == SECRET_KEY
    assert box.decrypt(organisation.stripe_webhook_secret_encrypted) == WEBHOOK_SECRET
    assert organisation.payment_accounts == "GBP=200"

    replaced = await _post(client, {**FULL, "secret_key": OTHER_SECRET_KEY})
    assert replaced.status_code == 200 and "ends in <code>1234</code>" in replaced.text
    assert_no_secret(replaced.text)
    assert box.decrypt(stored(db, org_a.id).stripe_secret_key_encrypted) == OTHER_SECRET_KEY


async def test_remove_clears_a_stored_secret(client, db, org_a):
    await login(client, org_a.admin)
    await _post(client, FULL)
    blank = {**FULL, "secret_key": "", "webhook_secret": ""}
    response = await _post(client, {**blank, "remove_secret_key": "on"})
    assert response.status_code == 200
    organisation = stored(db, org_a.id)
    assert organisation.stripe_secret_key_encrypted == ""
    assert organisation.stripe_webhook_secret_encrypted != ""  # only what was asked
    assert "Remove the stored secret key" not in response.text

    await _post(client, {**blank, "remove_webhook_secret": "on"})
    assert stored(db, org_a.id).stripe_webhook_secret_encrypted == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secret_key", "sk_oops", "a Stripe secret key starts with sk_test_ or sk_live_"),
        ("secret_key", PUBLISHABLE_KEY, "this is the publishable key (pk_...)"),
        # Finding 1 of issue 12: an account id is never typed in (it could be anyone's).
        (
            "account_id",
            "acct_1BravoAccount99",
            "is linked through Stripe&#39;s sign-in, not typed in",
        ),
        ("publishable_key", "pk_nope", "a Stripe publishable key starts with pk_test_"),
        ("webhook_secret", "secret", "a Stripe webhook signing secret starts with whsec_"),
        ("payment_accounts", "GBP:090", "&#39;GBP:090&#39; is not CUR=account"),
        ("payment_accounts", "GBP=090 gbp=091", "GBP is given more than one account"),
        ("payment_accounts", "POUNDS=090", "e.g. GBP=090 EUR=091 *=615"),
    ],
)
async def test_invalid_settings_are_explained_and_nothing_is_saved(
    client, db, org_a, field, value, message
):
    await login(client, org_a.admin)
    response = await _post(client, {**FULL, field: value})
    assert response.status_code == 422
    assert message in response.text
    assert "Nothing was saved" in response.text
    assert_no_secret(response.text)
    organisation = stored(db, org_a.id)
    assert organisation.stripe_secret_key_encrypted == ""
    assert organisation.payment_accounts == ""


async def test_a_secret_typed_in_a_shown_field_is_not_shown_back(client, org_a):
    await login(client, org_a.admin)
    response = await _post(client, {**FULL, "publishable_key": SECRET_KEY}, htmx=False)
    assert response.status_code == 422
    assert "this is a secret, not the publishable key" in response.text
    assert "<html" in response.text  # without htmx, the whole settings page
    assert_no_secret(response.text)


async def test_setting_and_removing_together_is_refused(client, db, org_a):
    await login(client, org_a.admin)
    response = await _post(client, {**FULL, "remove_secret_key": "on"})
    assert response.status_code == 422
    assert "give a new secret key or remove the stored one, not both" in response.text
    assert stored(db, org_a.id).stripe_secret_key_encrypted == ""


async def test_only_admins_change_card_payments(client, db, org_a):
    for email in (org_a.viewer, org_a.collector):
        await login(client, email)
        page = await client.get("/settings/organisation")
        assert "Card payments (Stripe)" in page.text
        assert "Save card payment settings" not in page.text
        response = await _post(client, FULL, htmx=False)
        assert response.status_code == 403
        await client.post("/logout", data={"_csrf_token": csrf_from(page.text)})
    assert stored(db, org_a.id).stripe_secret_key_encrypted == ""


# --- the API -----------------------------------------------------------------------------------


async def test_api_reads_card_payments_without_secrets(client, db, settings, org_a):
    settings.stripe_publishable_key = ""  # the server's own, whatever the environment says
    admin = await api_token(client, org_a.admin)
    off = (await client.get("/api/v1/organisation", headers=admin)).json()["stripe"]
    assert off["mode"] == "off" and off["ready"] is False
    assert off["secret_key_set"] is False and off["webhook_secret_set"] is False

    response = await client.patch(
        "/api/v1/organisation",
        json={"stripe": {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET}},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert_no_secret(response.text)
    stripe = response.json()["stripe"]
    assert stripe["mode"] == "own key" and stripe["secret_key_set"] is True
    assert stripe["secret_key_last4"] == "9XyZ" and stripe["webhook_secret_set"] is True
    # No publishable key here or on the server: not ready, and it says why.
    assert stripe["ready"] is False and "publishable key" in stripe["not_ready_because"]
    assert response.json()["name"] == "Alpha Ltd"  # the other settings are kept

    response = await client.patch(
        "/api/v1/organisation",
        json={"stripe": {"publishable_key": PUBLISHABLE_KEY, "payment_accounts": "*=615"}},
        headers=admin,
    )
    stripe = response.json()["stripe"]
    assert stripe["ready"] is True and stripe["not_ready_because"] == ""
    assert stripe["publishable_key"] == PUBLISHABLE_KEY and stripe["payment_accounts"] == "*=615"
    assert stripe["secret_key_set"] is True  # left out: kept
    box = SecretBox(settings.resolved_secret_key)
    assert box.decrypt(stored(db, org_a.id).stripe_secret_key_encrypted) == SECRET_KEY

    viewer = await api_token(client, org_a.viewer)
    seen = await client.get("/api/v1/organisation", headers=viewer)
    assert seen.status_code == 200 and seen.json()["stripe"]["secret_key_set"] is True
    assert_no_secret(seen.text)


async def test_api_connect_mode_and_removal(client, db, settings, org_a):
    settings.stripe_secret_key = ""  # a server without the platform's key
    organisation = stored(db, org_a.id)
    organisation.stripe_account_id = ACCOUNT_ID  # as Stripe's OAuth links it
    organisation.stripe_publishable_key = PUBLISHABLE_KEY
    db.commit()
    admin = await api_token(client, org_a.admin)
    stripe = (await client.get("/api/v1/organisation", headers=admin)).json()["stripe"]
    assert stripe["mode"] == "connect" and stripe["account_id"] == ACCOUNT_ID
    # Without the platform's key, Connect cannot take payments.
    assert stripe["ready"] is False and "DUELY_STRIPE_SECRET_KEY" in stripe["not_ready_because"]
    settings.stripe_secret_key = "sk_test_platformKey1234"
    with_platform = (await client.get("/api/v1/organisation", headers=admin)).json()["stripe"]
    assert with_platform["mode"] == "connect" and with_platform["ready"] is True
    assert "platformKey" not in str(with_platform)

    await client.patch(
        "/api/v1/organisation", json={"stripe": {"secret_key": SECRET_KEY}}, headers=admin
    )
    removed = await client.patch(
        "/api/v1/organisation",
        json={"stripe": {"remove_secret_key": True, "account_id": ""}},
        headers=admin,
    )
    stripe = removed.json()["stripe"]
    assert stripe["mode"] == "connect" and stripe["secret_key_set"] is False
    assert stored(db, org_a.id).stripe_secret_key_encrypted == ""
    assert stored(db, org_a.id).stripe_account_id == ACCOUNT_ID  # unlinked only on the page


async def test_api_validation_names_each_field(client, db, org_a):
    admin = await api_token(client, org_a.admin)
    response = await client.patch(
        "/api/v1/organisation",
        json={
            "timezone": "Mars/Olympus",
            "stripe": {
                "secret_key": "pk_test_wrongfield",
                "account_id": "acct-1",
                "payment_accounts": "GBP=",
            },
        },
        headers=admin,
    )
    assert response.status_code == 400
    extra = response.json()["extra"]
    assert "unknown time zone" in extra["timezone"]
    assert "this is the publishable key" in extra["stripe.secret_key"]
    assert "linked through Stripe's sign-in" in extra["stripe.account_id"]
    assert "is not CUR=account" in extra["stripe.payment_accounts"]
    organisation = stored(db, org_a.id)
    assert organisation.stripe_account_id == "" and organisation.timezone == "Europe/London"

    not_an_object = await client.patch(
        "/api/v1/organisation", json={"stripe": "sk_test_x"}, headers=admin
    )
    assert not_an_object.status_code == 400
    assert "object" in not_an_object.json()["extra"]["stripe"]


async def test_api_only_admins_change_card_payments(client, db, org_a):
    for email in (org_a.viewer, org_a.collector):
        headers = await api_token(client, email)
        response = await client.patch(
            "/api/v1/organisation", json={"stripe": {"secret_key": SECRET_KEY}}, headers=headers
        )
        assert response.status_code == 403
    assert stored(db, org_a.id).stripe_secret_key_encrypted == ""


async def test_each_organisation_sees_only_its_own_card_settings(client, db, org_a, org_b):
    alpha = await api_token(client, org_a.admin)
    await client.patch(
        "/api/v1/organisation",
        json={"stripe": {"secret_key": SECRET_KEY, "publishable_key": PUBLISHABLE_KEY}},
        headers=alpha,
    )
    bravo = await api_token(client, org_b.admin)
    stripe = (await client.get("/api/v1/organisation", headers=bravo)).json()["stripe"]
    assert stripe["mode"] == "off" and stripe["publishable_key"] == ""
    assert stored(db, org_b.id).stripe_secret_key_encrypted == ""
