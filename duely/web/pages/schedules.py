"""Chasing settings, schedules: the list, each schedule's steps editor and its send preview, and
the schedule select on a customer's page.

Everyone may look; only admins change anything (a guard on every POST that writes). Every id is
looked up within the user's organisation, so another organisation's id is a plain 404. Forms
work as plain posts; htmx requests get only the part of the page that changed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from duely.models import Customer, Organisation, Role, Schedule
from duely.receivables.queries import organisation_today
from duely.reminders.naming import Refused, clean_name
from duely.reminders.schedules import (
    assign_contact_group,
    assign_schedule,
    contact_group_names,
    create_schedule,
    customers_in_group,
    customers_on,
    delete_schedule,
    make_default,
    org_schedules,
    plan_sends,
    rename_schedule,
    save_steps,
    schedule_steps,
    schedule_summaries,
    send_window,
    step_summary,
    unless_chosen,
)
from duely.reminders.steps import (
    CHANNEL_LABELS,
    RECIPIENT_LABELS,
    CleanStep,
    StepErrors,
    StepInput,
    apply_step_action,
    steps_from_form,
    validate_steps,
)
from duely.reminders.template_editing import org_templates
from duely.web.auth import requires_admin
from duely.web.chase import customer_plan_changed
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.organisation_settings import countries

PREVIEW_DAYS_AHEAD = 14
EARLIEST_DUE, LATEST_DUE = date(1990, 1, 1), date(2100, 12, 31)
SAVED_EVENT = "schedule-saved"
"""htmx event the steps editor fires after a save, so the preview re-plans."""


# --- shared by the chasing pages -----------------------------------------------------------------


def is_fragment(request: Request) -> bool:
    """An htmx swap of part of the page (a boosted link or history restore wants the page)."""
    details = getattr(request, "htmx", None)
    return bool(details) and not details.boosted and not details.history_restore_request


async def form_data(request: Request) -> dict[str, str]:
    submitted = dict(await request.form())
    submitted.pop("_csrf_token", None)
    return {name: value for name, value in submitted.items() if isinstance(value, str)}


def go_to(request: Request, url: str) -> Response:
    """After a POST that changed the page's subject: htmx navigates, a plain form redirects."""
    if is_fragment(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def can_edit(request: Request) -> bool:
    return request.user.has_role(Role.ADMIN)


# --- the preview ---------------------------------------------------------------------------------


def _due_date(organisation: Organisation, raw: str | None) -> tuple[date, str, str]:
    """The due date to preview, what the field shows, and why the typed value was not used."""
    default = organisation_today(organisation) + timedelta(days=PREVIEW_DAYS_AHEAD)
    raw = (raw or "").strip()
    if not raw:
        return default, default.isoformat(), ""
    try:
        due = date.fromisoformat(raw)
    except ValueError:
        return default, raw, f"“{raw}” is not a date: showing {default.isoformat()} instead."
    if not EARLIEST_DUE <= due <= LATEST_DUE:  # far enough from date's limits for any offset
        return (
            default,
            raw,
            f"Pick a due date between {EARLIEST_DUE:%Y} and {LATEST_DUE:%Y}: "
            f"showing {default.isoformat()} instead.",
        )
    return due, raw, ""


def window_description(organisation: Organisation) -> str:
    window = send_window(organisation)
    country = countries().get(window.country, window.country)
    region = f" ({window.subdivision})" if window.subdivision else ""
    return (
        f"{window.start:%H:%M}–{window.end:%H:%M} {window.timezone}, Monday to Friday, "
        f"public holidays of {country}{region} skipped"
    )


async def _preview_context(
    db_session: DbSession, organisation: Organisation, schedule: Schedule, raw_due: str | None
) -> dict[str, Any]:
    due, shown, problem = _due_date(organisation, raw_due)
    steps = [CleanStep.of(step) for step in await schedule_steps(db_session, schedule)]
    names = {t.id: t.name for t in await org_templates(db_session, organisation.id)}
    planned = []
    try:
        planned = plan_sends(steps, names, due, send_window(organisation))
    except ValueError as error:  # steps written by other means than this editor
        problem = f"These steps cannot be planned: {error}."
    return {
        "due_date": shown,
        "due_problem": problem,
        "planned": planned,
        "has_steps": bool(steps),
        "window": window_description(organisation),
        "channel_labels": CHANNEL_LABELS,
    }


# --- the schedule page ---------------------------------------------------------------------------


async def _page_context(
    request: Request,
    db_session: DbSession,
    organisation: Organisation,
    schedule: Schedule,
    rows: list[StepInput] | None = None,
    errors: StepErrors | None = None,
    raw_due: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    if rows is None:
        rows = [StepInput.of(step) for step in await schedule_steps(db_session, schedule)]
    return {
        "schedule": schedule,
        "customers": await customers_on(db_session, schedule),
        "rows": rows,
        "errors": errors or StepErrors(rows=[{} for _ in rows]),
        "templates": await org_templates(db_session, organisation.id),
        "channel_labels": CHANNEL_LABELS,
        "recipient_labels": RECIPIENT_LABELS,
        "can_edit": can_edit(request),
        "saved": False,
        "unsaved": False,
        "page_error": "",
        "renamed_to": schedule.name,
        "contact_groups": await contact_group_names(db_session, organisation.id),
        **await _preview_context(db_session, organisation, schedule, raw_due),
        **extra,
    }


async def _owned_schedule(
    request: Request, db_session: DbSession, schedule_id: int
) -> tuple[Organisation, Schedule]:
    organisation = await get_organisation(db_session, request.user.organisation_id)
    schedule = await get_owned(db_session, Schedule, schedule_id, organisation.id)
    return organisation, schedule


class SchedulesController(Controller):
    path = "/settings/schedules"
    include_in_schema = False

    @get("/", name="schedules")
    async def list_schedules(
        self, request: Request, db_session: DbSession, deleted: FromQuery[bool] = False
    ) -> Template:
        return await self._list(request, db_session, notice="Schedule deleted." if deleted else "")

    async def _list(
        self,
        request: Request,
        db_session: DbSession,
        notice: str = "",
        error: str = "",
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        org_id = request.user.organisation_id
        return Template(
            "reminders/schedules.html",
            context={
                "summaries": await schedule_summaries(db_session, org_id),
                "step_summary": step_summary,
                "can_edit": can_edit(request),
                "notice": notice,
                "error": error,
                "values": values or {"name": "", "start": "copy"},
            },
            status_code=status_code,
        )

    @post("/", guards=[requires_admin])
    async def create(self, request: Request, db_session: DbSession) -> Template | Response:
        submitted = await form_data(request)
        name = clean_name(submitted.get("name", ""))
        try:
            schedule = await create_schedule(
                db_session,
                request.user.organisation_id,
                name,
                copy_default=submitted.get("start", "copy") == "copy",
            )
        except Refused as refusal:
            return await self._list(
                request, db_session, error=str(refusal), values=submitted, status_code=422
            )
        return go_to(request, f"/settings/schedules/{schedule.id}")

    @get("/{schedule_id:int}", name="schedule")
    async def show(
        self,
        request: Request,
        db_session: DbSession,
        schedule_id: FromPath[int],
        due_date: FromQuery[str | None] = None,
    ) -> Template:
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        context = await _page_context(request, db_session, organisation, schedule, raw_due=due_date)
        return Template("reminders/schedule.html", context=context)

    @get("/{schedule_id:int}/preview")
    async def preview(
        self,
        request: Request,
        db_session: DbSession,
        schedule_id: FromPath[int],
        due_date: FromQuery[str | None] = None,
    ) -> Template:
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        context = await _preview_context(db_session, organisation, schedule, due_date)
        context = {"schedule": schedule, **context}
        return Template("reminders/_schedule_preview.html", context=context)

    @post("/{schedule_id:int}/steps", guards=[requires_admin])
    async def edit_steps(
        self, request: Request, db_session: DbSession, schedule_id: FromPath[int]
    ) -> Template:
        """Add, remove and move rows (nothing saved), or Save: all rows valid, or nothing."""
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        submitted = await form_data(request)
        rows = steps_from_form(submitted)
        action = submitted.get("action", "save")
        status_code, headers, state = 200, {}, {"unsaved": True}
        errors = None
        if action != "save":
            rows = apply_step_action(rows, action)
        else:
            templates = await org_templates(db_session, organisation.id)
            clean, errors = validate_steps(rows, {t.id for t in templates})
            if errors:
                status_code = 422
            else:
                await save_steps(db_session, schedule, clean)
                rows, errors = None, None
                state = {"saved": True}
                headers = {"HX-Trigger": SAVED_EVENT}
        context = await _page_context(
            request, db_session, organisation, schedule, rows, errors, **state
        )
        name = "reminders/_steps_form.html" if is_fragment(request) else "reminders/schedule.html"
        return Template(name, context=context, status_code=status_code, headers=headers)

    @post("/{schedule_id:int}/rename", guards=[requires_admin])
    async def rename(
        self, request: Request, db_session: DbSession, schedule_id: FromPath[int]
    ) -> Template | Response:
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        name = clean_name((await form_data(request)).get("name", ""))
        try:
            await rename_schedule(db_session, schedule, name)
        except Refused as refusal:
            context = await _page_context(
                request, db_session, organisation, schedule, page_error=str(refusal)
            )
            context["renamed_to"] = name
            return Template("reminders/schedule.html", context=context, status_code=422)
        return go_to(request, f"/settings/schedules/{schedule.id}")

    @post("/{schedule_id:int}/group", guards=[requires_admin])
    async def assign_group(
        self, request: Request, db_session: DbSession, schedule_id: FromPath[int]
    ) -> Template | Response:
        """Customers in a contact group of the ledger follow this schedule (unless they were
        given one by name); their running chases re-read their plan."""
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        group = (await form_data(request)).get("contact_group", "").strip()
        try:
            await assign_contact_group(db_session, schedule, group)
        except Refused as refusal:
            context = await _page_context(
                request, db_session, organisation, schedule, page_error=str(refusal)
            )
            return Template("reminders/schedule.html", context=context, status_code=422)
        for customer in await customers_in_group(db_session, organisation.id, group):
            await customer_plan_changed(request.app.state, db_session, customer)
        return go_to(request, f"/settings/schedules/{schedule.id}")

    @post("/{schedule_id:int}/default", guards=[requires_admin])
    async def make_default(
        self, request: Request, db_session: DbSession, schedule_id: FromPath[int]
    ) -> Response:
        _, schedule = await _owned_schedule(request, db_session, schedule_id)
        await make_default(db_session, schedule)
        return go_to(request, f"/settings/schedules/{schedule.id}")

    @post("/{schedule_id:int}/delete", guards=[requires_admin])
    async def delete(
        self, request: Request, db_session: DbSession, schedule_id: FromPath[int]
    ) -> Template | Response:
        organisation, schedule = await _owned_schedule(request, db_session, schedule_id)
        try:
            await delete_schedule(db_session, schedule)
        except Refused as refusal:
            context = await _page_context(
                request, db_session, organisation, schedule, page_error=str(refusal)
            )
            return Template("reminders/schedule.html", context=context, status_code=409)
        return go_to(request, "/settings/schedules?deleted=true")


# --- a customer's schedule -----------------------------------------------------------------------


def _schedule_id(raw: str) -> int | None:
    """The select's value: empty means the organisation default."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


@post("/customers/{customer_id:int}/schedule", guards=[requires_admin], include_in_schema=False)
async def customer_schedule(
    request: Request, db_session: DbSession, customer_id: FromPath[int]
) -> Template | Response:
    org_id = request.user.organisation_id
    customer = await get_owned(db_session, Customer, customer_id, org_id)
    raw = (await form_data(request)).get("schedule_id", "")
    error = ""
    try:
        if raw.strip() and _schedule_id(raw) is None:
            raise Refused("Choose one of your schedules.")
        await assign_schedule(db_session, customer, _schedule_id(raw))
        await customer_plan_changed(request.app.state, db_session, customer)
    except Refused as refusal:
        error = str(refusal)
    if not is_fragment(request):
        if error:  # only a tampered form gets here: the select offers valid choices only
            return Response(content=error, status_code=422, media_type="text/plain")
        return Redirect(f"/customers/{customer.id}", status_code=303)
    return Template(
        "reminders/customer_schedule.html",
        context={
            "customer": customer,
            "schedule_choices": await org_schedules(db_session, org_id),
            "fallback": await unless_chosen(db_session, customer),
            "schedule_saved": not error,
            "schedule_error": error,
        },
        status_code=422 if error else 200,
    )
