"""The outbox page: every email, text and call task duely produced for the organisation, newest
first, with what became of it. Failed and uncertain messages stand out (a person must look at
them); collectors and admins mark call tasks done.

Like the invoices list, it is a plain GET form that works without JavaScript; htmx requests for
the same URL get only the table back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template

from duely.models import Message, Role
from duely.receivables.queries import customer_names
from duely.web.auth import requires_collector
from duely.web.chase import (
    OUTBOX_CHANNELS,
    OUTBOX_KINDS,
    OUTBOX_STATUSES,
    TROUBLED,
    NotACallTask,
    OutboxFilters,
    mark_done,
    outbox_query,
)
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.pages.paging import fetch_shown_page, page_number, pager
from duely.web.pages.receivables import formatters, wants_fragment

STATUS_LABELS = {
    "queued": "Queued",
    "handing_over": "Handing over",
    "sent": "Sent",
    "held": "Held in the outbox",
    "failed": "Failed",
    "uncertain": "Uncertain",
    "open": "Open (call task)",
    "done": "Done",
}
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "call_task": "Call task"}
KIND_LABELS = {"reminder": "Reminder", "statement": "Statement", "thank_you": "Thank-you"}


def _choice(raw: str | None, known: list[str]) -> str:
    return raw if raw in known else ""


@dataclass(frozen=True)
class OutboxListQuery:
    """The outbox's query string as submitted; unknown values fall back to "any"."""

    status: str
    channel: str
    kind: str

    @classmethod
    def parse(cls, status: str | None, channel: str | None, kind: str | None) -> OutboxListQuery:
        return cls(
            status=_choice(status, OUTBOX_STATUSES),
            channel=_choice(channel, OUTBOX_CHANNELS),
            kind=_choice(kind, OUTBOX_KINDS),
        )

    @property
    def filters(self) -> OutboxFilters:
        return OutboxFilters(self.status or None, self.channel or None, self.kind or None)

    @property
    def narrowed(self) -> bool:
        return bool(self.status or self.channel or self.kind)

    def url(self, page: int = 1) -> str:
        chosen = {"status": self.status, "channel": self.channel, "kind": self.kind}
        params: dict[str, Any] = {name: value for name, value in chosen.items() if value}
        if page > 1:
            params["page"] = page
        return f"/outbox?{urlencode(params)}" if params else "/outbox"


@dataclass(frozen=True)
class MessageRow:
    message: Message
    customer_name: str

    @property
    def troubled(self) -> bool:
        return self.message.status in TROUBLED

    @property
    def open_call(self) -> bool:
        return self.message.channel == "call_task" and self.message.status == "open"


async def _rows(db_session: DbSession, org_id: int, messages: list[Message]) -> list[MessageRow]:
    ids = {m.customer_id for m in messages if m.customer_id is not None}
    names = await customer_names(db_session, org_id, ids)
    return [MessageRow(m, names.get(m.customer_id, "")) for m in messages]


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "kind_labels": KIND_LABELS,
    }


class OutboxController(Controller):
    path = "/outbox"
    include_in_schema = False

    @get("/", name="outbox")
    async def list_messages(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        status: FromQuery[str | None] = None,
        channel: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        query = OutboxListQuery.parse(status, channel, kind)
        statement = outbox_query(organisation.id, query.filters)
        messages, total, shown = await fetch_shown_page(db_session, statement, page_number(page))
        context = {
            **formatters(organisation),
            **_labels(),
            "query": query,
            "rows": await _rows(db_session, organisation.id, messages),
            "pager": pager(shown, total, query.url, target="outbox-table"),
            "clear_url": "/outbox" if query.narrowed else None,
            "can_act": request.user.has_role(Role.COLLECTOR),
        }
        headers = {"Vary": "HX-Request"}
        if wants_fragment(request):
            return HTMXTemplate(
                template_name="outbox/_table.html",
                context=context,
                push_url=query.url(shown),
                headers=headers,
            )
        return Template("outbox/index.html", context=context, headers=headers)

    @post("/{message_id:int}/done", guards=[requires_collector], status_code=200)
    async def mark_call_done(
        self, request: HTMXRequest, db_session: DbSession, message_id: FromPath[int]
    ) -> Template | Response:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        message = await get_owned(db_session, Message, message_id, organisation.id)
        error = ""
        try:
            await mark_done(db_session, message, request.user.email)
        except NotACallTask as refusal:
            error = str(refusal)
        if not wants_fragment(request):
            if error:
                return Template(
                    "error.html", context={"status_code": 409, "detail": error}, status_code=409
                )
            return Redirect(_back_to_outbox(request), status_code=303)
        (row,) = await _rows(db_session, organisation.id, [message])
        return Template(
            "outbox/_row.html",
            context={
                **formatters(organisation),
                **_labels(),
                "row": row,
                "row_error": error,
                "can_act": True,
            },
        )


def _back_to_outbox(request: Request) -> str:
    """Back to the list the person was looking at (same filters and page), else the outbox."""
    referrer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referrer.startswith(f"{origin}/outbox"):
        return referrer[len(origin) :]
    return "/outbox"
