"""`/pay/{token}`: the customer payment portal, the link in every reminder.

Public: the signed, expiring token is the only credential, and it names one customer of one
organisation. The page lists that customer's outstanding invoices (with their PDFs, fetched
from the ledger) and lets the customer tell the business "I have already paid", "I'll pay on
<date>" or "I dispute this" for the invoices they tick, and pay them by card when the business
takes cards through Stripe (`pay/_payment.html` and `static/pay.js` in the page; `POST
/pay/{token}/card` with the logic in `duely/payments/card_payments.py`).

The forms are CSRF-protected like every other form (Litestar's CSRF cookie is set for anyone,
signed in or not, on the GET that shows the page). Each action is a plain form post answered
with the whole page, and through htmx with just the form (`pay/_form.html`); the card payment
is a JSON post from the page's script, answered in JSON (its errors too). Posts and PDF
downloads are rate-limited per client address, request bodies are small, and nothing here
logs the token or anything the customer typed.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException, SerializationException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.links import TOKEN_IN_ADDRESS
from duely.core.money import decimals
from duely.ledgers.documents import NoPdfs, invoice_pdf
from duely.models import Connection, Invoice, saved_id
from duely.payments.card_payments import (
    CardDeclined,
    CardsNotTaken,
    SeveralCurrencies,
    StripeError,
    card_setup,
    outcome_message,
    pay_by_card,
)
from duely.receivables.credit import credit_by_currency, net_due
from duely.receivables.queries import organisation_today
from duely.web.deps import DbSession
from duely.web.pages.receivables import format_day, formatters, wants_fragment
from duely.web.portal import (
    BadPortalInput,
    InvalidLink,
    NotYours,
    Visit,
    clean_promise_day,
    clean_text,
    customer_invoice,
    dispute,
    invoice_rows,
    outstanding_invoices,
    promise_limits,
    promise_to_pay,
    read_card_request,
    recent_attempts,
    record_says_paid,
    selected_invoices,
    totals_by_currency,
    visit_of,
)

PORTAL_PREFIX = "/pay/"
MAX_BODY_BYTES = 32 * 1024
"""A portal form is a few ticked ids and at most a thousand characters of text."""
WORK_PER_MINUTE = 30
"""Posts and PDF downloads per client address and minute, all portal links together."""
CARD_PATH = "/card"
CARD_FAILED = (
    "The card payment could not be made right now, and nothing was charged. Please try again "
    "in a few minutes."
)
PDF_NAME = re.compile(r"^(\d{1,12})\.pdf$")
UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")

# The token is in the address. The security headers (no Referer, never framed, the
# Content-Security-Policy that lets Stripe.js in) are set for every response in one place.
HEADERS = TOKEN_IN_ADDRESS


async def _is_portal_work(request: Request) -> bool:
    # async: Litestar runs a plain function given here in a thread, for every request
    path = request.url.path
    return path.startswith(PORTAL_PREFIX) and (request.method == "POST" or path.endswith(".pdf"))


PORTAL_RATE_LIMIT = RateLimitConfig(
    rate_limit=("minute", WORK_PER_MINUTE),
    check_throttle_handler=_is_portal_work,
    store="portal_rate_limit",
)
"""Registered by the app next to the password limit (a store of its own, so the two budgets
stay apart)."""


# --- answers -----------------------------------------------------------------------------------

PROBLEMS = {
    400: ("This page could not be shown", "The request was not understood."),
    403: (
        "Please reload the page",
        "For your security the form has to come from this page: reload it and try again.",
    ),
    404: ("Not found", "There is nothing here for this link."),
    405: ("Not found", "There is nothing here for this link."),
    413: ("That was too long", "Please send a shorter message."),
    429: ("Too many requests", "Please wait a minute and try again."),
    500: ("Something went wrong", "Please try again in a moment."),
}


def _problem(status_code: int, title: str, detail: str) -> Template:
    return Template(
        "pay/problem.html",
        context={"status_code": status_code, "title": title, "detail": detail},
        status_code=status_code,
        headers=HEADERS,
    )


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(CARD_PATH) or "application/json" in request.headers.get(
        "accept", ""
    )


def _json(status_code: int, status: str, message: str, **more: str) -> Response:
    return Response(
        {"status": status, "message": message, **more}, status_code=status_code, headers=HEADERS
    )


def _portal_error(request: Request, error: Exception) -> Template | Response:
    """Errors on the portal's routes (including the CSRF check and the rate limit, which run
    before the handler) answer with a page a customer can read, never the staff's pages; the
    card payment's script gets the same words in JSON."""
    status_code = error.status_code if isinstance(error, HTTPException) else 500
    title, detail = PROBLEMS.get(status_code, PROBLEMS[500])
    if _wants_json(request):
        return _json(status_code, "error", f"{title}. {detail}")
    return _problem(status_code, title, detail)


def _invalid(reason: str) -> Template:
    return Template(
        "pay/invalid.html", context={"reason": reason}, status_code=400, headers=HEADERS
    )


def _not_yours() -> Template:
    return _problem(
        404,
        "Invoice not found",
        "That invoice is not one of the invoices this link shows.",
    )


async def _page_context(
    request: Request,
    db_session: AsyncSession,
    visit: Visit,
    token: str,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    opened: str = "",
) -> dict[str, Any]:
    organisation = visit.organisation
    today = organisation_today(organisation)
    invoices = await outstanding_invoices(db_session, visit)
    totals = totals_by_currency(invoices)
    credit = await credit_by_currency(db_session, saved_id(organisation), saved_id(visit.customer))
    first, last = promise_limits(today)
    values = values or {}
    return {
        **formatters(organisation),
        "visit": visit,
        "base": f"{PORTAL_PREFIX}{token}",
        "today": today,
        "rows": invoice_rows(invoices, today),
        "totals": totals,
        "credited": [owed for owed in net_due(totals, credit) if owed.credit],
        "selected": set(values.get("invoice", [])),
        "values": values,
        "errors": errors or {},
        "notice": notice,
        "opened": opened,
        "promise_first": first,
        "promise_last": last,
        "decimals": decimals,
        "card": card_setup(request.app.state.settings, organisation),
    }


def _names(invoices: list[Invoice]) -> str:
    numbers = [invoice.number or f"#{invoice.id}" for invoice in invoices]
    if len(numbers) == 1:
        return numbers[0]
    return f"{', '.join(numbers[:-1])} and {numbers[-1]}"


# --- the routes --------------------------------------------------------------------------------


class PortalController(Controller):
    path = "/pay/{token:str}"
    include_in_schema = False
    opt = {"exclude_from_auth": True}
    exception_handlers = {code: _portal_error for code in PROBLEMS}

    @get("/", name="portal")
    async def page(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Template:
        try:
            visit = await visit_of(db_session, _secret(request), token)
        except InvalidLink as invalid:
            return _invalid(str(invalid))
        context = await _page_context(request, db_session, visit, token)
        return Template("pay/page.html", context=context, headers=HEADERS)

    @get("/invoices/{filename:str}", name="portal_invoice_pdf")
    async def invoice_pdf(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        token: FromPath[str],
        filename: FromPath[str],
    ) -> Response | Template:
        try:
            visit = await visit_of(db_session, _secret(request), token)
        except InvalidLink as invalid:
            return _invalid(str(invalid))
        named = PDF_NAME.match(filename)
        if not named:
            return _not_yours()
        try:
            invoice = await customer_invoice(db_session, visit, int(named.group(1)))
        except NotYours:
            return _not_yours()
        connection = (
            await db_session.get(Connection, invoice.connection_id)
            if invoice.connection_id is not None
            else None
        )
        if connection is None or connection.organisation_id != visit.organisation.id:
            return _problem(
                404,
                "No PDF for this invoice",
                f"{visit.sender} keeps invoice {invoice.number} in a system duely cannot fetch "
                f"PDFs from. Ask {visit.sender} for a copy.",
            )
        try:
            pdf = await invoice_pdf(request.app.state.ledgers, connection, invoice.external_id)
        except NoPdfs:
            return _problem(
                404,
                "No PDF for this invoice",
                f"duely cannot fetch PDFs from {visit.sender}'s accounting system yet. "
                f"Ask {visit.sender} for a copy.",
            )
        if not pdf:
            return _problem(
                502,
                "The PDF could not be fetched right now",
                f"{visit.sender}'s accounting system did not hand over the PDF of invoice "
                f"{invoice.number}. Please try again in a few minutes.",
            )
        stem = UNSAFE_IN_FILENAME.sub("-", invoice.number).strip("-.") or f"invoice-{invoice.id}"
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers={
                **HEADERS,
                "Content-Disposition": f'inline; filename="{stem}.pdf"',
            },
        )

    @post("/paid", status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def post_paid(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Template:
        return await self._act(request, db_session, token, "paid")

    @post("/promise", status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def post_promise(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Template:
        return await self._act(request, db_session, token, "promise")

    @post("/dispute", status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def post_dispute(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Template:
        return await self._act(request, db_session, token, "dispute")

    @post(CARD_PATH, status_code=200, request_max_body_size=MAX_BODY_BYTES)
    async def post_card(
        self, request: HTMXRequest, db_session: DbSession, token: FromPath[str]
    ) -> Response:
        """`{"invoices": [ids], "payment_method": "pm_..."}` from the page's script: charge
        the card for what is due on those invoices. Answers `{"status", "message",
        "payment_intent", "client_secret" (only when the bank wants 3-D Secure)}`."""
        try:
            visit = await visit_of(db_session, _secret(request), token)
        except InvalidLink as invalid:
            return _json(400, "invalid_link", f"This payment link does not work: {invalid}.")
        try:
            body = await request.json()
        except SerializationException:
            body = None
        try:
            raw_ids, payment_method = read_card_request(body)
            invoices = await selected_invoices(db_session, visit, raw_ids)
            state = request.app.state
            payment = await pay_by_card(
                state.settings, recent_attempts(state), db_session, visit, invoices, payment_method
            )
        except NotYours:
            return _json(
                404, "not_found", "That invoice is not one of the invoices this link shows."
            )
        except (BadPortalInput, SeveralCurrencies) as bad:
            return _json(400, "refused", str(bad))
        except CardsNotTaken as not_taken:
            return _json(409, "unavailable", str(not_taken))
        except CardDeclined as declined:
            return _json(402, "declined", str(declined))
        except StripeError:
            # The gateway has logged what went wrong (without the key); the customer gets a
            # calm sentence, not Stripe's.
            return _json(502, "error", CARD_FAILED)
        more = {"payment_intent": payment.id}
        if payment.status == "requires_action":
            more["client_secret"] = payment.client_secret
        return _json(200, payment.status, outcome_message(payment), **more)

    async def _act(
        self, request: HTMXRequest, db_session: AsyncSession, token: str, action: str
    ) -> Template:
        try:
            visit = await visit_of(db_session, _secret(request), token)
        except InvalidLink as invalid:
            return _invalid(str(invalid))
        form = await request.form()
        values: dict[str, Any] = {
            "invoice": form.getall("invoice", []),
            **{
                name: form.get(name)
                for name in ("note", "until", "reason")
                if isinstance(form.get(name), str)
            },
        }
        values["invoice"] = [value for value in values["invoice"] if isinstance(value, str)]
        today = organisation_today(visit.organisation)
        errors: dict[str, str] = {}
        invoices = []
        try:
            invoices = await selected_invoices(db_session, visit, values["invoice"])
        except NotYours:
            return _not_yours()
        except BadPortalInput as bad:
            errors[bad.field] = str(bad)
        try:
            if action == "paid":
                note = clean_text(values.get("note"), "note")
            elif action == "promise":
                day = clean_promise_day(values.get("until"), today)
            else:
                reason = clean_text(
                    values.get("reason"), "reason", "Tell us what is wrong with the invoice."
                )
        except BadPortalInput as bad:
            errors[bad.field] = str(bad)
        if errors:
            # The selected ids are kept as typed, but only ids that pass the check above can
            # be ticked again: every rendered checkbox is one of the customer's invoices.
            return await self._answer(
                request, db_session, visit, token, errors=errors, values=values, opened=action
            )
        names = _names(invoices)
        if action == "paid":
            await record_says_paid(db_session, visit, invoices, note)
            notice = (
                f"Thank you. We have told {visit.sender} that you have paid {names}. They will "
                "check for your payment; until it shows in their books you may still receive "
                "a reminder."
            )
        elif action == "promise":
            told = await promise_to_pay(request.app.state, db_session, visit, invoices, day)
            notice = (
                f"Thank you. {visit.sender} has your promise to pay {names} by {format_day(day)}."
            )
            if not told.recorded:
                notice += " Reminders about it stop until then."
        else:
            told = await dispute(request.app.state, db_session, visit, invoices, reason)
            notice = (
                f"Thank you. {visit.sender} has been told that you dispute {names} and will "
                "be in touch."
            )
            if not told.recorded:
                notice += " Reminders about it stop while they look into it."
        return await self._answer(request, db_session, visit, token, notice=notice)

    async def _answer(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        visit: Visit,
        token: str,
        *,
        notice: str = "",
        errors: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        opened: str = "",
    ) -> Template:
        """The form (htmx) or the whole page (a plain post), with what happened."""
        context = await _page_context(
            request,
            db_session,
            visit,
            token,
            notice=notice,
            errors=errors,
            values=values,
            opened=opened,
        )
        status_code = 422 if errors else 200
        if wants_fragment(request):
            headers = dict(HEADERS)
            if notice:
                headers["HX-Reswap"] = "outerHTML show:top"
            return Template(
                "pay/_form.html", context=context, status_code=status_code, headers=headers
            )
        return Template("pay/page.html", context=context, status_code=status_code, headers=HEADERS)


def _secret(request: Request) -> str:
    return request.app.state.settings.resolved_secret_key
