"""Organisation settings: everyone may read them, only admins change them.

The page has two forms: the organisation's chasing settings, and card payments (Stripe), whose
secrets are write-only (shown as set or not set, never sent back to the browser).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar_htmx import HTMXRequest
from pydantic import ValidationError

from duely.models import ChaseMode, Organisation, Role
from duely.payments.connected_accounts import stripe_connect_of
from duely.web import stripe_connect
from duely.web.auth import requires_admin
from duely.web.deps import DbSession, get_organisation
from duely.web.organisation_settings import (
    CURRENCIES,
    PAYMENT_ACCOUNTS_EXAMPLE,
    SHOWN_STRIPE_FIELDS,
    WEEKDAYS,
    OrganisationSettings,
    StripeChange,
    StripeView,
    countries,
    error_messages,
    looks_secret,
    save_settings,
    save_stripe,
    stripe_error_messages,
    timezones,
)
from duely.web.pages.connections import PROFILE_KEY


def _htmx(request: Request) -> bool:
    return isinstance(request, HTMXRequest) and bool(request.htmx)


def _stripe_context(
    request: Request,
    organisation: Organisation,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    notice: str = "",
    problem: str = "",
) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "stripe": StripeView.of(settings, organisation),
        "stripe_connect_available": stripe_connect_of(settings) is not None,
        "stripe_notice": notice,
        "stripe_problem": problem,
        "stripe_values": values if values is not None else StripeChange.shown_fields(organisation),
        "stripe_errors": errors or {},
        "stripe_saved": saved,
        "payment_accounts_example": PAYMENT_ACCOUNTS_EXAMPLE,
        "stripe_webhook_url": f"{settings.public_url.rstrip('/')}/webhooks/stripe",
        "can_edit": request.user.has_role(Role.ADMIN),
    }


def _form(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    saved: bool,
    status_code: int = 200,
    connected: dict | None = None,
    stripe: dict[str, Any] | None = None,
) -> Template:
    htmx = _htmx(request)
    return Template(
        "partials/organisation_form.html" if htmx else "settings/organisation.html",
        context={
            **(stripe or {}),
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
        stripe = _stripe_context(request, organisation)
        return _form(request, values, {}, saved=False, connected=profile, stripe=stripe)

    @post("/", guards=[requires_admin])
    async def save(self, request: Request, db_session: DbSession) -> Template:
        form = await request.form()
        submitted = dict(form)
        submitted.pop("_csrf_token", None)
        submitted["send_days"] = "".join(form.getall("send_days", []))
        organisation = await get_organisation(db_session, request.user.organisation_id)
        try:
            cleaned = OrganisationSettings.model_validate(submitted)
        except ValidationError as error:
            # The form again as typed. The template reads every field, so one the post left
            # out shows what is stored (it used to be a 500).
            shown = OrganisationSettings.of(organisation).model_dump(mode="json") | submitted
            stripe = _stripe_context(request, organisation)
            return _form(
                request, shown, error_messages(error), False, status_code=422, stripe=stripe
            )
        await save_settings(request, db_session, organisation, cleaned)
        request.session.pop(PROFILE_KEY, None)
        stripe = _stripe_context(request, organisation)
        return _form(request, cleaned.model_dump(mode="json"), {}, saved=True, stripe=stripe)

    @post("/stripe", guards=[requires_admin])
    async def save_stripe(self, request: Request, db_session: DbSession) -> Template:
        """The card payments form; through htmx the answer is that form alone."""
        form = await request.form()
        submitted = {name: form[name] for name in StripeChange.model_fields if name in form}
        organisation = await get_organisation(db_session, request.user.organisation_id)
        try:
            change = StripeChange.model_validate(submitted)
        except ValidationError as error:
            # What was typed is shown again, except secrets (typed in the wrong field or not).
            shown = {
                name: "" if looks_secret(submitted.get(name)) else submitted.get(name, "")
                for name in SHOWN_STRIPE_FIELDS
            }
            stripe = _stripe_context(request, organisation, shown, stripe_error_messages(error))
            return _stripe_answer(request, organisation, stripe, status_code=422)
        await save_stripe(request, db_session, organisation, change)
        stripe = _stripe_context(request, organisation, saved=True)
        return _stripe_answer(request, organisation, stripe)

    # --- Stripe Connect: linking the business's own Stripe account through Stripe ---------

    @post("/stripe/connect", guards=[requires_admin])
    async def connect_stripe(self, request: Request, db_session: DbSession) -> Response:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        try:
            url = stripe_connect.start(request, organisation)
        except stripe_connect.ConnectProblem as problem:
            return _stripe_said(request, organisation, problem=str(problem))
        if _htmx(request):  # htmx follows redirects itself: have the browser go
            return Response("", status_code=200, headers={"HX-Redirect": url})
        return Redirect(url, status_code=303)

    @get("/stripe/connected", guards=[requires_admin])
    async def stripe_connected(self, request: Request, db_session: DbSession) -> Template:
        """Where Stripe sends the admin back, with a code (or an error) and our state (read
        from the query directly: `state` is a name Litestar keeps for itself)."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        names = ("code", "state", "error", "error_description")
        query = {name: request.query_params.get(name) for name in names}
        try:
            account_id = await stripe_connect.finish(request, db_session, organisation, query)
        except stripe_connect.ConnectProblem as problem:
            return _stripe_said(request, organisation, problem=str(problem))
        notice = f"Stripe account {account_id} linked: card payments go to it."
        return _stripe_said(request, organisation, notice=notice)

    @post("/stripe/disconnect", guards=[requires_admin])
    async def disconnect_stripe(self, request: Request, db_session: DbSession) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        try:
            notice = await stripe_connect.disconnect(request, db_session, organisation)
        except stripe_connect.ConnectProblem as problem:
            return _stripe_said(request, organisation, problem=str(problem))
        return _stripe_said(request, organisation, notice=notice)


def _stripe_said(
    request: Request, organisation: Organisation, notice: str = "", problem: str = ""
) -> Template:
    """The card payments form with what Connect has to say (409 for a problem)."""
    stripe = _stripe_context(request, organisation, notice=notice, problem=problem)
    return _stripe_answer(request, organisation, stripe, status_code=409 if problem else 200)


def _stripe_answer(
    request: Request, organisation: Organisation, stripe: dict[str, Any], status_code: int = 200
) -> Template:
    """Through htmx the card payments form alone; otherwise the whole settings page."""
    if _htmx(request):
        return Template("settings/_stripe_form.html", context=stripe, status_code=status_code)
    values = OrganisationSettings.of(organisation).model_dump(mode="json")
    return _form(request, values, {}, False, status_code=status_code, stripe=stripe)
