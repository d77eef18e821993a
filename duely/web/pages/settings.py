"""Organisation settings: everyone may read them, only admins change them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Template
from litestar_htmx import HTMXRequest
from pydantic import ValidationError

from duely.models import ChaseMode, Role
from duely.web.auth import requires_admin
from duely.web.deps import DbSession, get_organisation
from duely.web.organisation_settings import (
    CURRENCIES,
    WEEKDAYS,
    OrganisationSettings,
    countries,
    error_messages,
    save_settings,
    timezones,
)
from duely.web.pages.connections import PROFILE_KEY


def _form(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    saved: bool,
    status_code: int = 200,
    connected: dict | None = None,
) -> Template:
    htmx = isinstance(request, HTMXRequest) and bool(request.htmx)
    return Template(
        "partials/organisation_form.html" if htmx else "settings/organisation.html",
        context={
            "connected": connected,
            "values": values,
            "errors": errors,
            "saved": saved,
            "can_edit": request.user.has_role(Role.ADMIN),
            "countries": countries(),
            "timezones": timezones(),
            "currencies": CURRENCIES,
            "chase_modes": list(ChaseMode),
            "weekdays": WEEKDAYS,
        },
        status_code=status_code,
    )


# Organisation setting <- field of the ledger's profile (LedgerOrganisation).
LEDGER_PROFILE_FIELDS = (
    ("name", "name"),
    ("country", "country"),
    ("timezone", "timezone"),
    ("base_currency", "base_currency"),
)


class OrganisationSettingsController(Controller):
    path = "/settings/organisation"

    @get("/", name="organisation_settings")
    async def show(
        self, request: Request, db_session: DbSession, connected: FromQuery[bool] = False
    ) -> Template:
        """Right after connecting a ledger, the form shows what the ledger says about the
        business, for the user to confirm while the first sync runs."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        values = OrganisationSettings.of(organisation).model_dump(mode="json")
        profile = request.session.get(PROFILE_KEY) if connected else None
        if profile:
            suggested = {key: profile.get(source) for key, source in LEDGER_PROFILE_FIELDS}
            values.update({key: value for key, value in suggested.items() if value})
        return _form(request, values, {}, saved=False, connected=profile)

    @post("/", guards=[requires_admin])
    async def save(self, request: Request, db_session: DbSession) -> Template:
        form = await request.form()
        submitted = dict(form)
        submitted.pop("_csrf_token", None)
        submitted["send_days"] = "".join(form.getall("send_days", []))
        try:
            cleaned = OrganisationSettings.model_validate(submitted)
        except ValidationError as error:
            return _form(request, submitted, error_messages(error), saved=False, status_code=422)
        organisation = await get_organisation(db_session, request.user.organisation_id)
        await save_settings(request, db_session, organisation, cleaned)
        request.session.pop(PROFILE_KEY, None)
        return _form(request, cleaned.model_dump(mode="json"), {}, saved=True)
