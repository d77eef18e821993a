"""Twilio's Messages resource under /twilio/2010-04-01/Accounts/{AccountSid}/:

- POST Messages.json: send (form fields To, From or MessagingServiceSid, Body, StatusCallback)
- GET Messages.json: list, newest first (filters To, From, DateSent, DateSent< and
  DateSent>, the last two written `DateSent<=YYYY-MM-DD` and `DateSent>=YYYY-MM-DD` in a
  query string; paging PageSize, Page)
- GET Messages/{Sid}.json: one message

Every call authenticates with HTTP basic auth AccountSid:AuthToken, for the account in the path.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from duely.sandbox.twilio import errors
from duely.sandbox.twilio.sandbox import (
    API_VERSION,
    Refused,
    SentFilter,
    TwilioAccount,
    TwilioSandbox,
    sent_day,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DATE_SENT_FILTERS = ("DateSent", "DateSent<", "DateSent>")


def _sandbox(request: Request) -> TwilioSandbox:
    return request.app.state.twilio


def _credentials(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return username, password


def _gate(request: Request, account_sid: str) -> TwilioAccount | Response:
    """Authentication, then injected faults: the account, or the answer Twilio gives."""
    sandbox = _sandbox(request)
    account = sandbox.authenticate(*_credentials(request))
    if account is None:
        return errors.authenticate()
    if account.sid != account_sid:
        return errors.not_found(request.url.path.removeprefix("/twilio"))
    fault = sandbox.take_fault(request.method, request.url.path)
    if fault is not None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        code, message = {
            429: (errors.TOO_MANY_REQUESTS, "Too Many Requests"),
            500: (errors.INTERNAL_ERROR, "Internal Server Error"),
            503: (errors.SERVICE_UNAVAILABLE, "Service Unavailable"),
        }[fault.status]
        return errors.twilio_error(fault.status, code, message, headers)
    return account


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class MessagesResource(Controller):
    path = f"/{API_VERSION}/Accounts/{{account_sid:str}}"

    @post("/Messages.json", status_code=201)
    async def create(self, request: Request, account_sid: FromPath[str]) -> Response:
        gate = _gate(request, account_sid)
        if isinstance(gate, Response):
            return gate
        form = await request.form()
        fields = {name: str(value) for name, value in form.items()}
        try:
            message = _sandbox(request).create_message(gate, fields)
        except Refused as refusal:
            return errors.twilio_error(refusal.status, refusal.code, refusal.message)
        return Response(message.as_json(), status_code=201)

    @get("/Messages.json")
    async def list_messages(self, request: Request, account_sid: FromPath[str]) -> Response:
        gate = _gate(request, account_sid)
        if isinstance(gate, Response):
            return gate
        query = request.query_params
        to, sender = query.get("To", ""), query.get("From", "")
        size = min(max(_int(query.get("PageSize"), DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
        page = max(_int(query.get("Page"), 0), 0)
        dated = {name: query[name] for name in DATE_SENT_FILTERS if query.get(name)}
        try:
            on, until, since = (
                sent_day(dated[n]) if n in dated else None for n in DATE_SENT_FILTERS
            )
        except ValueError:
            return errors.twilio_error(400, errors.INVALID_PARAMETER, "Invalid date value.")
        sent = SentFilter(on=on, until=until, since=since)
        found = _sandbox(request).list_messages(account_sid, to, sender, sent)
        start = page * size
        shown = found[start : start + size]
        base = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        filters = {name: value for name, value in (("To", to), ("From", sender)) if value}
        filters.update(dated)

        def uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        return Response(
            {
                "end": start + max(len(shown) - 1, 0),
                "first_page_uri": uri(0),
                "messages": [message.as_json() for message in shown],
                "next_page_uri": uri(page + 1) if start + size < len(found) else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": uri(page),
            }
        )

    @get("/Messages/{message_file:str}")
    async def fetch(
        self, request: Request, account_sid: FromPath[str], message_file: FromPath[str]
    ) -> Response:
        gate = _gate(request, account_sid)
        if isinstance(gate, Response):
            return gate
        message = _sandbox(request).messages.get(message_file.removesuffix(".json"))
        if (
            not message_file.endswith(".json")
            or message is None
            or message.account_sid != account_sid
        ):
            return errors.not_found(request.url.path.removeprefix("/twilio"))
        return Response(message.as_json())
