"""The Accounting API's shared plumbing and its read-only endpoints: Organisation, Accounts,
Contacts and CreditNotes. Invoices and Payments have their own modules.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from litestar import Request, Response, get
from litestar.params import FromPath

from duely.sandbox.xero.dates import parse_if_modified_since
from duely.sandbox.xero.errors import not_found, query_parse_error
from duely.sandbox.xero.fields import account_fields, contact_fields, credit_note_fields
from duely.sandbox.xero.gateway import Access, access_of
from duely.sandbox.xero.idempotency import MAX_KEY_LENGTH, IdempotencyMismatch
from duely.sandbox.xero.ledger import Contact, Ledger
from duely.sandbox.xero.listing import ListQuery, paginate, select
from duely.sandbox.xero.representations import (
    account_json,
    contact_balances,
    contact_json,
    credit_note_json,
    envelope,
    organisation_json,
)
from duely.sandbox.xero.sandbox import XeroSandbox
from duely.sandbox.xero.where import WhereError

API_PATH = "/api.xro/2.0"
INVALID_JSON = {
    "ErrorNumber": 14,
    "Type": "PostDataInvalidException",
    "Message": "Invalid Json data",
}


class Call:
    """One Accounting API call: the sandbox, who calls, and the tenant's ledger."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.xero: XeroSandbox = request.app.state.xero
        self.access: Access = access_of(request.scope)
        assert self.access.tenant_id is not None
        self.tenant_id: str = self.access.tenant_id
        self.ledger: Ledger = self.xero.store.ledger(self.tenant_id)

    def answer(self, key: str, items: list[dict], **extra) -> Response:
        now = self.xero.clock.now()
        body = envelope(key, items, now, self.access.provider_name, **extra)
        return Response(body, status_code=200)

    def list_query(self) -> ListQuery:
        """The list parameters; WhereError for a bad If-Modified-Since or paging value."""
        query_params = self.request.query_params
        params = {name: ",".join(query_params.getall(name)) for name in query_params}
        return ListQuery(params, self.modified_since())

    def modified_since(self) -> datetime | None:
        header = self.request.headers.get("if-modified-since")
        if not header:
            return None
        try:
            return parse_if_modified_since(header)
        except ValueError as error:
            raise WhereError(f"If-Modified-Since '{header}' is not a valid date") from error

    def listing(self, key: str, records: list, query: ListQuery, render: Callable) -> Response:
        page, pagination = paginate(records, query)
        extra = {"pagination": pagination} if pagination else {}
        return self.answer(key, [render(record) for record in page], **extra)

    async def idempotent(self, write: Callable[[object], Awaitable[tuple[int, dict]]]) -> Response:
        """Run a PUT/POST once per Idempotency-Key (see idempotency.py)."""
        raw = await self.request.body()
        key = self.request.headers.get("idempotency-key", "")
        keys = self.xero.idempotency
        fingerprint = keys.fingerprint(self.request.method, self.request.url.path, raw)
        client_id = self.access.client_id
        if len(key) > MAX_KEY_LENGTH:
            return _bad_key(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters")
        if key:
            try:
                stored = keys.recall(client_id, self.tenant_id, key, fingerprint)
            except IdempotencyMismatch:
                return _bad_key("Idempotency-Key has already been used with a different request")
            if stored is not None:
                return Response(stored.body, status_code=stored.status)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return Response(INVALID_JSON, status_code=400)
        status, answer = await write(body)
        if key:
            keys.remember(client_id, self.tenant_id, key, fingerprint, status, answer)
        return Response(answer, status_code=status)


def _bad_key(message: str) -> Response:
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": message, "Elements": []}
    return Response(body, status_code=400)


def list_endpoint(handler: Callable[[Call], Response]) -> Callable[[Request], Awaitable]:
    """Answer a list handler's WhereError as Xero's 400 QueryParseException."""

    async def endpoint(request: Request) -> Response:
        try:
            return handler(Call(request))
        except WhereError as error:
            return query_parse_error(str(error))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


@get(f"{API_PATH}/Organisation")
async def get_organisation(request: Request) -> Response:
    call = Call(request)
    return call.answer("Organisations", [organisation_json(call.ledger.organisation)])


def _accounts(call: Call) -> Response:
    query = call.list_query()
    fields = account_fields(call.ledger)
    records = select(call.ledger.accounts.values(), query, fields, "Account", lambda a: a.updated)
    return call.answer("Accounts", [account_json(account) for account in records])


def _contacts(call: Call) -> Response:
    query = call.list_query()
    ids = {value.lower() for value in query.csv("IDs")}
    include_archived = query.flag("includeArchived") or bool(ids)
    term = query.get("searchTerm").lower()

    def wanted(contact: Contact) -> bool:
        if ids and contact.contact_id not in ids:
            return False
        if contact.status == "ARCHIVED" and not include_archived:
            return False
        if term:
            searched = (contact.name, contact.first_name, contact.last_name, contact.email)
            return term in " ".join((*searched, contact.account_number)).lower()
        return True

    fields = contact_fields(call.ledger)
    contacts = call.ledger.contacts.values()
    records = select(contacts, query, fields, "Contact", lambda c: c.updated, wanted)
    summary_only = query.flag("summaryOnly")
    return call.listing(
        "Contacts", records, query, lambda c: contact_json(c, summary_only=summary_only)
    )


def _credit_notes(call: Call) -> Response:
    query = call.list_query()
    fields = credit_note_fields(call.ledger)
    notes = call.ledger.credit_notes.values()
    records = select(notes, query, fields, "CreditNote", lambda n: n.updated)
    return call.listing("CreditNotes", records, query, lambda n: credit_note_json(call.ledger, n))


get_accounts = get(f"{API_PATH}/Accounts", name="xero-accounts")(list_endpoint(_accounts))
get_contacts = get(f"{API_PATH}/Contacts", name="xero-contacts")(list_endpoint(_contacts))
get_credit_notes = get(f"{API_PATH}/CreditNotes", name="xero-credit-notes")(
    list_endpoint(_credit_notes)
)


@get(f"{API_PATH}/Contacts/{{contact_id:str}}")
async def get_contact(request: Request, contact_id: FromPath[str]) -> Response:
    call = Call(request)
    contact = call.ledger.contacts.get(contact_id.lower())
    if contact is None:
        return not_found()
    body = contact_json(contact)
    body["Balances"] = contact_balances(call.ledger, contact, call.xero.clock.today())
    return call.answer("Contacts", [body])


ACCOUNTING_READ_HANDLERS = [
    get_organisation,
    get_accounts,
    get_contacts,
    get_contact,
    get_credit_notes,
]
