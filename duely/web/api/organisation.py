"""`/api/v1/organisation`: the caller's organisation settings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch
from litestar.exceptions import ValidationException
from litestar.params import JSONBody
from pydantic import ValidationError

from duely.web.auth import requires_admin
from duely.web.deps import DbSession, get_organisation
from duely.web.organisation_settings import (
    OrganisationSettings,
    error_messages,
    save_settings,
)


class OrganisationController(Controller):
    path = "/organisation"
    tags = ["organisation"]

    @get("/")
    async def show(self, request: Request, db_session: DbSession) -> OrganisationSettings:
        return OrganisationSettings.of(
            await get_organisation(db_session, request.user.organisation_id)
        )

    @patch("/", guards=[requires_admin])
    async def update(
        self, request: Request, db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> OrganisationSettings:
        """Change some settings; fields left out keep their value."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        # The stored values are merged unvalidated: the request may be fixing one of them.
        stored = {name: getattr(organisation, name) for name in OrganisationSettings.model_fields}
        merged = stored | data
        try:
            cleaned = OrganisationSettings.model_validate(merged)
        except ValidationError as error:
            raise ValidationException(
                "Invalid organisation settings.", extra=error_messages(error)
            ) from error
        await save_settings(request, db_session, organisation, cleaned)
        return cleaned
