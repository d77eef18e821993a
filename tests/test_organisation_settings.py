"""The organisation settings page: admins edit, everyone else reads."""

from sqlmodel import select

from duely.models import Organisation
from tests.conftest import csrf_from, login

VALID = {
    "name": "Alpha Trading Ltd",
    "sender_name": "Sam from Alpha",
    "country": "NZ",
    "timezone": "Pacific/Auckland",
    "base_currency": "nzd",
    "send_window_start": "08:30",
    "send_window_end": "16:00",
    "chase_mode": "selected",
    "send_days": ["1", "2", "3", "4", "5", "6"],
    "sender_email": "accounts@alpha.test",
}


async def _post(client, data, htmx=False):
    page = await client.get("/settings/organisation")
    headers = {"HX-Request": "true", "x-csrftoken": csrf_from(page.text)} if htmx else {}
    form = data if htmx else {**data, "_csrf_token": csrf_from(page.text)}
    return await client.post("/settings/organisation", data=form, headers=headers)


async def test_admin_saves_settings(client, db, org_a):
    await login(client, org_a.admin)
    response = await _post(client, VALID)
    assert response.status_code == 200
    assert "Settings saved" in response.text

    organisation = db.get(Organisation, org_a.id)
    db.refresh(organisation)
    assert organisation.name == "Alpha Trading Ltd"
    assert organisation.country == "NZ"
    assert organisation.timezone == "Pacific/Auckland"
    assert organisation.base_currency == "NZD"
    assert organisation.send_window_start.strftime("%H:%M") == "08:30"
    assert organisation.chase_mode == "selected"
    assert organisation.send_days == "123456"
    assert organisation.sender_email == "accounts@alpha.test"


async def test_htmx_save_returns_only_the_form(client, org_a):
    await login(client, org_a.admin)
    response = await _post(client, VALID, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<form id="organisation-form"')
    assert "<html" not in response.text


async def test_invalid_settings_are_explained_and_nothing_is_saved(client, db, org_a):
    await login(client, org_a.admin)
    bad = {**VALID, "timezone": "Mars/Olympus", "send_window_start": "18:00"}
    response = await _post(client, bad, htmx=True)
    assert response.status_code == 422
    assert "unknown time zone" in response.text
    assert "must start before it ends" in response.text
    assert 'value="Alpha Trading Ltd"' in response.text  # what the user typed is kept
    organisation = db.exec(select(Organisation).where(Organisation.id == org_a.id)).one()
    assert organisation.name == "Alpha Ltd"


async def test_viewer_reads_but_cannot_change_settings(client, db, org_a):
    await login(client, org_a.viewer)
    page = await client.get("/settings/organisation")
    assert page.status_code == 200
    assert "Only an admin can change these settings" in page.text
    response = await _post(client, VALID)
    assert response.status_code == 403
    assert db.get(Organisation, org_a.id).name == "Alpha Ltd"


async def test_collector_cannot_change_settings(client, org_a):
    await login(client, org_a.collector)
    assert (await _post(client, VALID)).status_code == 403


async def test_each_user_sees_only_their_organisation(client, org_a, org_b):
    await login(client, org_b.admin)
    await _post(client, {**VALID, "name": "Bravo Renamed"})
    page = await client.get("/settings/organisation")
    assert "Bravo Renamed" in page.text
    await client.post("/logout", data={"_csrf_token": csrf_from(page.text)})
    await login(client, org_a.admin)
    assert 'value="Alpha Ltd"' in (await client.get("/settings/organisation")).text


async def test_regional_holidays_need_a_region_the_country_has(client, db, org_a):
    await login(client, org_a.admin)
    england = {**VALID, "country": "GB", "timezone": "Europe/London", "subdivision": "eng"}
    assert (await _post(client, england)).status_code == 200
    assert db.get(Organisation, org_a.id, populate_existing=True).subdivision == "ENG"

    response = await _post(client, {**england, "subdivision": "XYZ"})
    assert response.status_code == 422
    assert "GB has no region &#39;XYZ&#39; (known: ENG, NIR, SCT, WLS)" in response.text


async def test_at_least_one_send_day(client, org_a):
    await login(client, org_a.admin)
    response = await _post(client, {**VALID, "send_days": []})
    assert response.status_code == 422
    assert "choose at least one day of the week" in response.text
