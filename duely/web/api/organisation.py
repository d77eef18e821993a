"""`/api/v1/organisation`: the caller's organisation settings.

Card payment settings sit under `stripe`. Secrets are write-only: `PATCH` takes
`stripe.secret_key` and `stripe.webhook_secret` (left out or empty: keep the stored one;
`remove_secret_key` / `remove_webhook_secret`: clear it), and no answer ever contains them.

A change that needs the chase engine (switching chasing on, moving the statement schedule) is
refused with 503, nothing saved, while the engine cannot be reached.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch
from litestar.exceptions import ServiceUnavailableException, ValidationException
from litestar.params import JSONBody
from pydantic import ValidationError

from duely.core.security import SecretBox
from duely.models import Organisation
from duely.settings import Settings
from duely.web.auth import requires_admin
from duely.web.chase import ChaseEngineDown, retry_waiting_payments
from duely.web.deps import DbSession, get_organisation
from duely.web.organisation_settings import (
    OrganisationSettings,
    StripeChange,
    StripeView,
    error_messages,
    save_settings,
    stripe_error_messages,
)


class OrganisationOut(OrganisationSettings):
    stripe: StripeView


def _out(settings: Settings, organisation: Organisation) -> OrganisationOut:
    return OrganisationOut(
        **OrganisationSettings.of(organisation).model_dump(),
        stripe=StripeView.of(settings, organisation),
    )


class OrganisationController(Controller):
    path = "/organisation"
    tags = ["organisation"]

    @get("/")
    async def show(self, request: Request, db_session: DbSession) -> OrganisationOut:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        return _out(request.app.state.settings, organisation)

    @patch("/", guards=[requires_admin])
    async def update(
        self, request: Request, db_session: DbSession, data: JSONBody[dict[str, Any]]
    ) -> OrganisationOut:
        """Change some settings; fields left out keep their value (`stripe` too, field by
        field)."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        stripe_data = data.pop("stripe", None)
        errors: dict[str, str] = {}
        # The stored values are merged unvalidated: the request may be fixing one of them.
        stored = {name: getattr(organisation, name) for name in OrganisationSettings.model_fields}
        try:
            cleaned = OrganisationSettings.model_validate(stored | data)
        except ValidationError as error:
            errors.update(error_messages(error))
        stripe_change = None
        if stripe_data is not None:
            if not isinstance(stripe_data, dict):
                errors["stripe"] = "give the card payment settings as an object"
            else:
                try:
                    stripe_change = StripeChange.model_validate(
                        StripeChange.shown_fields(organisation) | stripe_data
                    )
                except ValidationError as error:
                    messages = stripe_error_messages(error)
                    errors.update({f"stripe.{name}": text for name, text in messages.items()})
        if errors:
            raise ValidationException("Invalid organisation settings.", extra=errors)
        if stripe_change is not None:
            # Applied before save_settings, whose one commit then keeps both or neither.
            box = SecretBox(request.app.state.settings.resolved_secret_key)
            stripe_change.apply_to(organisation, box)
        try:
            await save_settings(request, db_session, organisation, cleaned)
        except ChaseEngineDown as down:
            raise ServiceUnavailableException(
                f"The chase engine could not be reached ({down}), and these settings need it: "
                "nothing was changed. Try again in a moment."
            ) from down
        if stripe_change is not None:
            await retry_waiting_payments(request.app.state, db_session, organisation.id)
        return _out(request.app.state.settings, organisation)
