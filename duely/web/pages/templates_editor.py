"""Chasing settings, templates: the list and the editor with its live preview.

Every save runs `check_template`; a template with a problem is never saved, and the problems are
shown beside the subject or body they belong to. The preview renders the unsaved text against
the sample customers (one invoice, several) and, on request, against one real customer's open
invoices. Everyone may preview; only admins save or delete.

Checking and rendering wait for a renderer process (bounded in time and size, see
duely.reminders.rendering), so they run in a worker thread: a heavy template typed into the
editor never holds up the event loop, and so the rest of the server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from duely.models import Customer, Organisation
from duely.models import Template as MessageTemplate
from duely.reminders.naming import Refused
from duely.reminders.rendering import (
    PLACEHOLDERS,
    ReminderContext,
    TemplateProblem,
    TemplateTooLarge,
    check_template,
    render,
    sample_context,
)
from duely.reminders.steps import TONES
from duely.reminders.template_editing import (
    TemplateErrors,
    TemplateInput,
    check_template_input,
    customers_with_open_invoices,
    delete_template,
    org_templates,
    real_context,
    save_template,
    template_usage,
)
from duely.web.auth import requires_admin
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.pages.schedules import can_edit, form_data, go_to, is_fragment

# What "New template" starts from: valid, and showing the one-or-several-invoices pattern.
STARTER = TemplateInput(
    name="",
    tone=TONES[0],
    subject=(
        "{% if invoices|length > 1 %}Invoices due: {{ total_due }}"
        "{% else %}Invoice {{ invoice.number }}: {{ invoice.amount_due }}{% endif %}"
    ),
    body="""\
Hello {{ contact.first_name or "there" }},

{% if invoices|length > 1 %}
These invoices are open on your account:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}
{% else %}
Invoice {{ invoice.number }} for {{ invoice.amount_due }} was due on {{ invoice.due_date }}.
{% endif %}

You can pay online here:
{{ payment_link }}

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)


@dataclass(frozen=True)
class PreviewPane:
    title: str
    subject: str = ""
    body: str = ""
    error: str = ""


async def _pane(title: str, data: TemplateInput, context: ReminderContext) -> PreviewPane:
    try:
        message = await asyncio.to_thread(render, data.subject, data.body, context)
    except TemplateTooLarge as error:  # it says so itself
        return PreviewPane(title, error=str(error))
    except Exception as error:  # noqa: BLE001 - real data may trip what the samples did not
        return PreviewPane(title, error=f"This could not be filled in: {error}")
    return PreviewPane(title, message.subject, message.body)


def _chosen_id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


async def _preview(
    request: Request,
    db_session: DbSession,
    organisation: Organisation,
    data: TemplateInput,
    customer_raw: str,
) -> dict[str, Any]:
    """The preview's context: problems (then nothing is rendered) or the rendered panes."""
    customer_id = _chosen_id(customer_raw)
    problems: list[TemplateProblem] = await asyncio.to_thread(
        check_template, data.subject, data.body
    )
    panes: list[PreviewPane] = []
    if not problems:
        panes = [
            await _pane("One invoice (sample customer)", data, sample_context(multi=False)),
            await _pane("Several invoices (sample customer)", data, sample_context(multi=True)),
        ]
        if customer_id is not None:
            customer = await get_owned(db_session, Customer, customer_id, organisation.id)
            link = f"{request.app.state.settings.public_url.rstrip('/')}/pay/preview"
            context = await real_context(db_session, organisation, customer, link)
            title = f"{customer.name} (real data)"
            panes.append(
                await _pane(title, data, context)
                if context
                else PreviewPane(title, error="This customer has no open invoices now.")
            )
    return {
        "preview_problems": problems,
        "previews": panes,
        "preview_customer_id": customer_id,
    }


async def _editor(
    request: Request,
    db_session: DbSession,
    organisation: Organisation,
    template: MessageTemplate | None,
    data: TemplateInput,
    errors: TemplateErrors | None = None,
    customer_raw: str = "",
    **extra: Any,
) -> dict[str, Any]:
    usage = await template_usage(db_session, organisation.id) if template else {}
    return {
        "template": template,
        "form_action": f"/settings/templates/{template.id}"
        if template
        else "/settings/templates/new",
        "values": data,
        "errors": errors or TemplateErrors(),
        "can_edit": can_edit(request),
        "saved": False,
        "page_error": "",
        "tones": TONES,
        "placeholders": PLACEHOLDERS,
        "used_by": usage.get(template.id, []) if template else [],
        "customer_choices": await customers_with_open_invoices(db_session, organisation.id),
        **await _preview(request, db_session, organisation, data, customer_raw),
        **extra,
    }


def _editor_response(request: Request, context: dict[str, Any], status_code: int = 200) -> Template:
    name = "reminders/_template_form.html" if is_fragment(request) else "reminders/template.html"
    return Template(name, context=context, status_code=status_code)


class TemplatesController(Controller):
    path = "/settings/templates"
    include_in_schema = False

    @get("/", name="chasing_templates")
    async def list_templates(
        self, request: Request, db_session: DbSession, deleted: FromQuery[bool] = False
    ) -> Template:
        org_id = request.user.organisation_id
        return Template(
            "reminders/templates.html",
            context={
                "templates": await org_templates(db_session, org_id),
                "usage": await template_usage(db_session, org_id),
                "can_edit": can_edit(request),
                "notice": "Template deleted." if deleted else "",
            },
        )

    @get("/new", name="chasing_new_template")
    async def new(self, request: Request, db_session: DbSession) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        context = await _editor(request, db_session, organisation, None, STARTER)
        return Template("reminders/template.html", context=context, status_code=200)

    @post("/new", guards=[requires_admin])
    async def create(self, request: Request, db_session: DbSession) -> Template | Response:
        return await self._save(request, db_session, None)

    @get("/{template_id:int}", name="chasing_template")
    async def show(
        self,
        request: Request,
        db_session: DbSession,
        template_id: FromPath[int],
        saved: FromQuery[bool] = False,
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        template = await get_owned(db_session, MessageTemplate, template_id, organisation.id)
        context = await _editor(
            request, db_session, organisation, template, TemplateInput.of(template), saved=saved
        )
        return Template("reminders/template.html", context=context, status_code=200)

    @post("/{template_id:int}", guards=[requires_admin])
    async def update(
        self, request: Request, db_session: DbSession, template_id: FromPath[int]
    ) -> Template | Response:
        return await self._save(request, db_session, template_id)

    async def _save(
        self, request: Request, db_session: DbSession, template_id: int | None
    ) -> Template | Response:
        """Check, then save; with any problem nothing is written and the form comes back as
        typed, each problem beside its field."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        template = None
        if template_id is not None:
            template = await get_owned(db_session, MessageTemplate, template_id, organisation.id)
        submitted = await form_data(request)
        data = TemplateInput.from_form(submitted)
        customer_raw = submitted.get("preview_customer_id", "")
        errors = await check_template_input(db_session, organisation.id, data, template_id)
        if errors:
            context = await _editor(
                request, db_session, organisation, template, data, errors, customer_raw
            )
            return _editor_response(request, context, status_code=422)
        created = template is None
        template = await save_template(db_session, organisation.id, data, template)
        if created:
            return go_to(request, f"/settings/templates/{template.id}?saved=true")
        context = await _editor(
            request, db_session, organisation, template, data, None, customer_raw, saved=True
        )
        return _editor_response(request, context)

    @post("/{template_id:int}/delete", guards=[requires_admin])
    async def delete(
        self, request: Request, db_session: DbSession, template_id: FromPath[int]
    ) -> Template | Response:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        template = await get_owned(db_session, MessageTemplate, template_id, organisation.id)
        try:
            await delete_template(db_session, template)
        except Refused as refusal:
            context = await _editor(
                request,
                db_session,
                organisation,
                template,
                TemplateInput.of(template),
                page_error=str(refusal),
            )
            return Template("reminders/template.html", context=context, status_code=409)
        return go_to(request, "/settings/templates?deleted=true")

    @post("/preview")
    async def preview(self, request: Request, db_session: DbSession) -> Template:
        """Render the text as typed, unsaved. Any role may preview: nothing is written."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        submitted = await form_data(request)
        data = TemplateInput.from_form(submitted)
        customer_raw = submitted.get("preview_customer_id", "")
        if is_fragment(request):
            context = await _preview(request, db_session, organisation, data, customer_raw)
            return Template("reminders/_template_preview.html", context=context, status_code=200)
        # Without JavaScript the Preview button posts the whole form here: show the editor
        # again, as typed, with the preview filled in.
        template_id = _chosen_id(submitted.get("template_id", ""))
        template = None
        if template_id is not None:
            template = await get_owned(db_session, MessageTemplate, template_id, organisation.id)
        context = await _editor(
            request, db_session, organisation, template, data, None, customer_raw
        )
        return Template("reminders/template.html", context=context, status_code=200)
