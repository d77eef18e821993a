"""Defects the schemathesis run (tests/test_api_fuzz.py) and the route walks
(tests/test_route_matrix.py) found, each pinned down by name."""

from __future__ import annotations

import re

from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from duely.web.auth import requires_admin
from tests.conftest import api_token, csrf_from, login


async def test_a_settings_form_missing_fields_is_answered_422_not_500(client, org_a):
    """The form came back with only what was posted, and the template read every field."""
    await login(client, org_a.admin)
    token = csrf_from((await client.get("/settings/organisation")).text)
    answer = await client.post(
        "/settings/organisation", data={"_csrf_token": token, "name": "Renamed Ltd"}
    )
    assert answer.status_code == 422
    assert 'value="Renamed Ltd"' in answer.text  # as typed
    assert 'name="send_window_start" value="09:00"' in answer.text  # left out: as stored


async def test_options_on_integration_health_paths_is_answered_like_any_other_path(client, org_a):
    """The controllers' guards went to Litestar's OPTIONS handlers too, which nobody signs in
    to: 500 for everyone."""
    headers = await api_token(client, org_a.collector)
    for path in (
        "/integrations",
        "/integrations/alerts/1/seen",
        "/api/v1/integration-health",
        "/api/v1/integration-health/alerts/1/seen",
    ):
        for sent in ({}, headers):
            answer = await client.options(path, headers=sent)
            assert answer.status_code == 204, (path, answer.text)
            assert "OPTIONS" in answer.headers["allow"]
    assert (await client.get("/api/v1/integration-health", headers=headers)).status_code == 200


async def test_a_guard_refuses_a_request_nobody_signed_in_to():
    """A guard reached without authentication (no middleware set a user) says 401 rather
    than failing on the missing user."""

    @get("/settings", guards=[requires_admin], sync_to_thread=False)
    def settings_page() -> str:
        return "secret"

    async with AsyncTestClient(app=Litestar([settings_page])) as client:
        answer = await client.get("/settings")
    assert answer.status_code == 401
    assert "Sign in" in answer.text


async def test_the_schema_documents_the_send_window_as_a_time_of_day_not_a_duration(client, org_a):
    """Litestar documents `datetime.time` as {"format": "duration"}; the API answers
    "09:00:00", which a client generated from /schema would have refused."""
    schema = (await client.get("/schema/openapi.json")).json()
    fields = schema["components"]["schemas"]["OrganisationOut"]["properties"]
    answer = (
        await client.get("/api/v1/organisation", headers=await api_token(client, org_a.viewer))
    ).json()
    for name in ("send_window_start", "send_window_end"):
        assert "format" not in fields[name]
        assert re.fullmatch(fields[name]["pattern"], answer[name]), (name, answer[name])
