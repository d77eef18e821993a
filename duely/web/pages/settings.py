"""Organisation settings: everyone may read them, only admins change them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Template
from litestar_htmx import HTMXRequest
from pydantic import ValidationError

from duely.models import ChaseMode, Role
from duely.web.auth import requires_admin
from duely.web.deps import DbSession, get_organisation
from duely.web.organisation_settings import (
    CURRENCIES,
    OrganisationSettings,
    countries,
    error_messages,
    timezones,
)


def _form(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    saved: bool,
    status_code: int = 200,
) -> Template:
    htmx = isinstance(request, HTMXRequest) and bool(request.htmx)
    return Template(
        "partials/organisation_form.html" if htmx else "settings/organisation.html",
        context={
            "values": values,
            "errors": errors,
            "saved": saved,
            "can_edit": request.user.has_role(Role.ADMIN),
            "countries": countries(),
            "timezones": timezones(),
            "currencies": CURRENCIES,
            "chase_modes": list(ChaseMode),
        },
        status_code=status_code,
    )


class OrganisationSettingsController(Controller):
    path = "/settings/organisation"

    @get("/", name="organisation_settings")
    async def show(self, request: Request, db_session: DbSession) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        values = OrganisationSettings.of(organisation).model_dump(mode="json")
        return _form(request, values, {}, saved=False)

    @post("/", guards=[requires_admin])
    async def save(self, request: Request, db_session: DbSession) -> Template:
        submitted = dict(await request.form())
        submitted.pop("_csrf_token", None)
        try:
            cleaned = OrganisationSettings.model_validate(submitted)
        except ValidationError as error:
            return _form(request, submitted, error_messages(error), saved=False, status_code=422)
        organisation = await get_organisation(db_session, request.user.organisation_id)
        cleaned.apply_to(organisation)
        await db_session.commit()
        return _form(request, cleaned.model_dump(mode="json"), {}, saved=True)
