"""`/api/v1`: a person's instructions to an invoice's chase, chasing switched for a customer,
a customer's opt-out cleared, and the outbox.

Instructions are signals: `202 Accepted` means the chase has them, and it acts a moment later
(`GET /invoices/{id}` shows the result in `chase`). No running chase answers 409, Temporal out
of reach 503. Collectors and admins may act; viewers read.
"""

from __future__ import annotations

from datetime import date, datetime

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ServiceUnavailableException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from duely.models import Channel, Customer, Invoice, Message, MessageKind, MessageStatus
from duely.outbox.opt_outs import FIELDS, clear_opt_out
from duely.receivables.queries import customer_contacts, organisation_today
from duely.web.api.paging import Page, PageRequest, fetch_page
from duely.web.api.receivables import ContactOut, CustomerDetail, CustomerOut
from duely.web.auth import requires_collector
from duely.web.chase import (
    FORCING,
    MAX_REASON,
    Action,
    BadChaseInput,
    ChaseEngineDown,
    NotACallTask,
    NotChasing,
    OutboxFilters,
    act,
    check_forcing,
    clean_action_input,
    mark_done,
    outbox_query,
    switch_customer_chasing,
    tell_chases,
)
from duely.web.deps import DbSession, get_organisation, get_owned


class ActionRequest(BaseModel):
    reason: str = Field(default="", max_length=MAX_REASON)
    until: date | None = None
    """`pause`: the day chasing resumes by itself (a later day; left out, it waits for
    `resume`). `promise`: the promised payment date (required, today or later)."""
    confirm: bool = False
    """`send-now` and `escalate`: send even though the customer already had a reminder today
    (without it, that answers 409 saying when)."""


class ActionAccepted(BaseModel):
    invoice_id: int
    action: Action
    accepted: bool = True


class ChasingSwitch(BaseModel):
    enabled: bool


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    created_at: datetime
    sent_at: datetime | None
    channel: str
    kind: str
    customer_id: int | None
    recipients: str
    subject: str
    body: str
    status: str
    error: str
    attempts: int


def _conflict(detail: str) -> HTTPException:
    return HTTPException(status_code=409, detail=detail)


class ChaseActionController(Controller):
    path = "/invoices"
    tags = ["chasing"]

    @post("/{invoice_id:int}/actions/{action:str}", guards=[requires_collector], status_code=202)
    async def act_on_chase(
        self,
        request: Request,
        db_session: DbSession,
        invoice_id: FromPath[int],
        action: FromPath[Action],
        data: JSONBody[ActionRequest | None] = None,
    ) -> ActionAccepted:
        """Pause, resume, escalate, send-now, dispute, resolve-dispute, promise or stop the
        invoice's chase. `until` is required for `promise`."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        invoice = await get_owned(db_session, Invoice, invoice_id, organisation.id)
        data = data or ActionRequest()
        try:
            reason, until = clean_action_input(
                action, data.reason, data.until, organisation_today(organisation)
            )
        except BadChaseInput as bad:
            raise ValidationException(str(bad), extra={bad.field: str(bad)}) from bad
        if action in FORCING:
            check = await check_forcing(
                request.app.state, db_session, organisation, invoice, confirmed=data.confirm
            )
            if check.refused:
                raise _conflict(check.refused)
            if check.question:
                raise _conflict(f'{check.question} Send again with "confirm": true.')
        try:
            await act(request.app.state, invoice, action, request.user.email, reason, until)
        except NotChasing as error:
            raise _conflict(str(error)) from error
        except ChaseEngineDown as down:
            raise ServiceUnavailableException(
                f"The chase engine could not be reached: {down}"
            ) from down
        return ActionAccepted(invoice_id=invoice.id, action=action)


class CustomerChasingController(Controller):
    path = "/customers"
    tags = ["chasing"]

    @post("/{customer_id:int}/chasing", guards=[requires_collector], status_code=200)
    async def switch_chasing(
        self,
        request: Request,
        db_session: DbSession,
        customer_id: FromPath[int],
        data: JSONBody[ChasingSwitch],
    ) -> CustomerDetail:
        """Switch chasing on or off for every invoice of the customer. Switching on starts
        the chase of each open invoice that has none (503, with nothing changed, when the
        chase engine is out of reach); switching off always holds."""
        customer = await get_owned(db_session, Customer, customer_id, request.user.organisation_id)
        try:
            await switch_customer_chasing(request.app.state, db_session, customer, data.enabled)
        except ChaseEngineDown as down:
            raise ServiceUnavailableException(
                f"The chase engine could not be reached: {down}"
            ) from down
        return await _customer_detail(db_session, customer)

    @delete(
        "/{customer_id:int}/opt-outs/{channel:str}", guards=[requires_collector], status_code=200
    )
    async def clear_customer_opt_out(
        self,
        request: Request,
        db_session: DbSession,
        customer_id: FromPath[int],
        channel: FromPath[str],
    ) -> CustomerDetail:
        """Clear the customer's opt-out of `email` or `sms` (they asked for reminders that way
        again); clearing one that is not set changes nothing. The customer's running chases are
        told, best effort. Twilio keeps refusing texts to a number that replied STOP until it
        replies START."""
        customer = await get_owned(db_session, Customer, customer_id, request.user.organisation_id)
        if channel not in FIELDS:
            raise HTTPException(
                status_code=400, detail=f"Unknown channel {channel!r}: use email or sms."
            )
        await clear_opt_out(
            tell_chases(request.app.state), db_session, customer, channel, by=request.user.email
        )
        return await _customer_detail(db_session, customer)


async def _customer_detail(db_session: DbSession, customer: Customer) -> CustomerDetail:
    contacts = await customer_contacts(db_session, customer)
    return CustomerDetail(
        **CustomerOut.model_validate(customer).model_dump(),
        contacts=[ContactOut.model_validate(c) for c in contacts],
    )


class OutboxApiController(Controller):
    path = "/outbox"
    tags = ["outbox"]

    @get("/")
    async def list_messages(
        self,
        request: Request,
        db_session: DbSession,
        paging: NamedDependency[PageRequest],
        status: FromQuery[MessageStatus | None] = None,
        channel: FromQuery[Channel | None] = None,
        kind: FromQuery[MessageKind | None] = None,
        customer_id: FromQuery[int | None] = None,
    ) -> Page[MessageOut]:
        """Every email, text and call task of the organisation, newest first."""
        filters = OutboxFilters(status, channel, kind, customer_id)
        statement = outbox_query(request.user.organisation_id, filters)
        rows, total = await fetch_page(db_session, statement, paging)
        return Page(
            [MessageOut.model_validate(r) for r in rows], total, paging.page, paging.page_size
        )

    @post("/{message_id:int}/done", guards=[requires_collector], status_code=200)
    async def mark_call_done(
        self, request: Request, db_session: DbSession, message_id: FromPath[int]
    ) -> MessageOut:
        """Mark an open call task done."""
        message = await get_owned(db_session, Message, message_id, request.user.organisation_id)
        try:
            await mark_done(db_session, message, request.user.email)
        except NotACallTask as error:
            raise _conflict(str(error)) from error
        return MessageOut.model_validate(message)
