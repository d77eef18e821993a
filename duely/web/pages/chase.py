"""The invoice page's Chase card and its controls, and the customer page's chasing switch.

Collectors and admins pause, resume, bring a reminder forward, escalate, open and resolve a
dispute, record a promise to pay, stop a chase or start one; viewers only read the card.
Every control is a form that works as a plain post (answered with a redirect back to the
invoice page, or the page itself when something needs saying) and, through htmx, swaps just
the card. Instructions reach the workflow as signals, which it handles a moment later, so after
one the card refreshes itself a few times.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from duely.models import Customer, Invoice, InvoiceStatus, Organisation
from duely.receivables.queries import organisation_today
from duely.web.auth import requires_collector
from duely.web.chase import (
    ACTION_DONE,
    FORCING,
    Action,
    BadChaseInput,
    ChaseEngineDown,
    NotChasing,
    act,
    chase_card,
    check_forcing,
    clean_action_input,
    start_chasing,
    switch_customer_chasing,
)
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.pages.receivables import formatters, invoice_page_context, wants_fragment

START = "start"
REFRESHES = 3
"""How many times the card asks again, a second apart, after an instruction."""


async def _form(request: Request) -> dict[str, str]:
    submitted = await request.form()
    return {name: value for name, value in submitted.items() if isinstance(value, str)}


def _invoice_url(invoice: Invoice) -> str:
    return f"/invoices/{invoice.id}#chase"


async def _card_context(
    request: Request, organisation: Organisation, invoice: Invoice, customer: Customer
) -> dict[str, Any]:
    today = organisation_today(organisation)
    return {
        **formatters(organisation),
        "invoice": invoice,
        "customer": customer,
        "chase": await chase_card(
            request.app.state, organisation, invoice, customer, request.user, today
        ),
    }


async def _answer(
    request: HTMXRequest,
    db_session: DbSession,
    organisation: Organisation,
    invoice: Invoice,
    *,
    notice: str = "",
    error: str = "",
    confirm: dict[str, str] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response | Template:
    """The card (htmx), or the invoice page for a plain post that has something to say, or a
    redirect back to the invoice page."""
    said = {
        "chase_notice": notice,
        "chase_error": error,
        "chase_confirm": confirm,
        "chase_errors": errors or {},
        "chase_values": values or {},
    }
    if wants_fragment(request):
        customer = await get_owned(db_session, Customer, invoice.customer_id, organisation.id)
        context = await _card_context(request, organisation, invoice, customer)
        # htmx swaps 2xx and 422 only (base.html): a refusal that is not about the form's
        # fields still has to reach the card.
        return Template(
            "chase/_card.html",
            context={**context, **said, "chase_refreshes": REFRESHES if notice else 0},
            status_code=422 if status_code == 422 else 200,
        )
    if status_code < 400:
        return Redirect(_invoice_url(invoice), status_code=303)
    context = await invoice_page_context(request, db_session, organisation, invoice)
    context.update(said)
    return Template("receivables/invoice.html", context=context, status_code=status_code)


class ChaseController(Controller):
    path = "/invoices/{invoice_id:int}/chase"
    include_in_schema = False

    @get("/", name="chase_card")
    async def show(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        invoice_id: FromPath[int],
        refresh: FromQuery[int] = 0,
    ) -> Template | Response:
        """The card's live part again (what the card polls after an instruction)."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        if not wants_fragment(request):
            return Redirect(_invoice_url(invoice), status_code=303)
        customer = await get_owned(db_session, Customer, invoice.customer_id, organisation.id)
        context = await _card_context(request, organisation, invoice, customer)
        context["chase_refreshes"] = max(0, min(refresh, REFRESHES))
        return Template("chase/_live.html", context=context)

    @post("/{action:str}", guards=[requires_collector], status_code=200)
    async def instruct(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        invoice_id: FromPath[int],
        action: FromPath[str],
    ) -> Template | Response:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        if action == START:
            return await self._start(request, db_session, organisation, invoice)
        try:
            instruction = Action(action)
        except ValueError:
            raise NotFoundException(f"No chase action {action[:40]!r}.") from None
        form = await _form(request)
        try:
            reason, until = clean_action_input(
                instruction,
                form.get("reason"),
                form.get("until"),
                organisation_today(organisation),
            )
        except BadChaseInput as bad:
            return await _answer(
                request,
                db_session,
                organisation,
                invoice,
                errors={instruction.value: {bad.field: str(bad)}},
                values={instruction.value: form},
                status_code=422,
            )
        if instruction in FORCING:
            check = await check_forcing(
                request.app.state,
                db_session,
                organisation,
                invoice,
                confirmed=form.get("confirm") == "yes",
            )
            if check.refused or check.question:
                return await _answer(
                    request,
                    db_session,
                    organisation,
                    invoice,
                    error=check.refused,
                    confirm={"action": action, "text": check.question} if check.question else None,
                    status_code=409,
                )
        try:
            await act(request.app.state, invoice, instruction, request.user.email, reason, until)
        except NotChasing:
            return await _answer(
                request,
                db_session,
                organisation,
                invoice,
                error="This invoice is not being chased any more, so there is nothing to "
                "instruct: the card shows why.",
                status_code=409,
            )
        except ChaseEngineDown as down:
            return await _answer(
                request,
                db_session,
                organisation,
                invoice,
                error=f"The chase engine could not be reached ({down}); nothing was changed. "
                "Try again in a moment.",
                status_code=503,
            )
        return await _answer(
            request, db_session, organisation, invoice, notice=ACTION_DONE[instruction]
        )

    async def _start(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        organisation: Organisation,
        invoice: Invoice,
    ) -> Template | Response:
        if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
            return await _answer(
                request,
                db_session,
                organisation,
                invoice,
                error="Only an open invoice with something due can be chased.",
                status_code=409,
            )
        try:
            await start_chasing(request.app.state, db_session, invoice)
        except ChaseEngineDown as down:
            return await _answer(
                request,
                db_session,
                organisation,
                invoice,
                error=f"The chase engine could not be reached ({down}); chasing was not "
                "started. Try again in a moment.",
                status_code=503,
            )
        return await _answer(request, db_session, organisation, invoice, notice="Chasing started.")


@post("/customers/{customer_id:int}/chasing", guards=[requires_collector], include_in_schema=False)
async def customer_chasing(
    request: HTMXRequest, db_session: DbSession, customer_id: FromPath[int]
) -> Template | Response:
    """Switch chasing on or off for every invoice of the customer."""
    organisation = await get_organisation(db_session, request.user.organisation_id)
    customer = await get_owned(db_session, Customer, customer_id, organisation.id)
    enabled = (await _form(request)).get("enabled", "").strip().lower() in ("true", "on", "1")
    notice, error, status_code = "", "", 200
    try:
        warning = await switch_customer_chasing(request.app.state, db_session, customer, enabled)
    except ChaseEngineDown as down:
        error = (
            f"The chase engine could not be reached ({down}), so chasing could not be "
            "switched on. Try again in a moment."
        )
        status_code = 503
    else:
        notice = "Chasing switched on." if enabled else "Chasing switched off."
        if warning:
            notice += (
                " The running chases will show it once the chase engine answers again "
                f"({warning}); nothing will be sent meanwhile."
            )
    if not wants_fragment(request):
        if error:
            return Template(
                "error.html",
                context={"status_code": status_code, "detail": error},
                status_code=status_code,
            )
        return Redirect(f"/customers/{customer.id}", status_code=303)
    return Template(
        "chase/_customer_chasing.html",
        context={
            **formatters(organisation),
            "customer": customer,
            "chasing_notice": notice,
            "chasing_error": error,
        },
    )
