"""The Accounting API v3 under /v3/company/{realmId}: query, reads by Id, CompanyInfo,
Preferences, writes (Invoice, Payment, Customer), the invoice PDF, change data capture and
batch. Every write honours `requestid` (a repeat answers the original response).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from duely.sandbox.quickbooks.company import Company, Tombstone
from duely.sandbox.quickbooks.errors import (
    QBError,
    QBFault,
    fault_body,
    fault_response,
    invalid,
    not_found,
    query_error,
)
from duely.sandbox.quickbooks.gateway import Access, access_of
from duely.sandbox.quickbooks.pdf import invoice_pdf
from duely.sandbox.quickbooks.query import (
    ENTITIES,
    Condition,
    check_fields,
    named_fields,
    parse,
    project,
    select,
)
from duely.sandbox.quickbooks.representations import (
    QUERY_FIELDS,
    company_info_json,
    customer_json,
    entity_jsons,
    invoice_json,
    payment_json,
    preferences_json,
    timestamp,
    tombstone_json,
)
from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox

log = logging.getLogger(__name__)

COMPANY = "/v3/company/{realm_id:str}"
MAX_REQUEST_ID = 50
CDC_MAX_DAYS = 30
CDC_MAX_OBJECTS = 1000
# Lists of names answer only their active entries unless the query says otherwise.
NAME_LISTS = ("Customer", "Account")
# Fields a query may name though an entity's JSON leaves them out when empty.
QUERYABLE_EXTRA = frozenset(
    {"id", "synctoken", "metadata", "privatenote", "linkedtxn", "billemail", "mobile"}
)


class Call:
    """One API call: the sandbox, who calls and the realm's company."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.quickbooks: QuickBooksSandbox = request.app.state.quickbooks
        self.access: Access = access_of(request.scope)
        self.company: Company = self.quickbooks.store.company(self.access.realm_id)

    def answer(self, body: dict, status: int = 200) -> Response:
        return Response({**body, "time": self.now()}, status_code=status)

    def now(self) -> str:
        return timestamp(self.quickbooks.clock.now(), millis=True)

    async def json_body(self) -> dict:
        try:
            body = json.loads(await self.request.body() or b"{}")
        except ValueError as error:
            raise invalid("Request has invalid or unsupported property", "2010") from error
        if not isinstance(body, dict):
            raise invalid("Request has invalid or unsupported property", "2010")
        return body

    async def once(self, write: Callable[[], object]) -> Response:
        """Run a write once per `requestid`: a repeat answers the first response (faults
        included), whatever its body or endpoint (requestid is unique per company)."""
        request_id = self.request.query_params.get("requestid", "")
        if len(request_id) > MAX_REQUEST_ID:
            raise invalid(f"requestid is longer than {MAX_REQUEST_ID} characters", "2010")
        keys = self.quickbooks.idempotency
        fingerprint = keys.fingerprint("POST", "", b"")  # one requestid, one answer per realm
        realm = self.access.realm_id
        if request_id:
            kept = keys.recall(self.access.client_id, realm, request_id, fingerprint)
            if kept is not None:
                return Response(kept.body, status_code=kept.status)
        try:
            status, body = 200, {**(await write()), "time": self.now()}  # type: ignore[misc]
        except QBFault as fault:
            status, body = fault.status, fault_body(fault, self.quickbooks.clock.now())
        if request_id:
            keys.remember(self.access.client_id, realm, request_id, fingerprint, status, body)
        return Response(body, status_code=status)


def query_response(company: Company, text: str) -> dict:
    """A QueryResponse: the page and startPosition, maxResults (rows on it) and totalCount.

    Conditions and order on the fields in QUERY_FIELDS are evaluated without rendering every
    entity (a page of a 10,000-invoice company renders 1,000, not 10,000). As in QuickBooks,
    customers and accounts made inactive are left out unless the query names Active."""
    if not text.strip():
        raise query_error("the query is empty")
    query = parse(text)
    if query.entity in NAME_LISTS and "active" not in named_fields(query):
        query.where.append(Condition("Active", "=", ["true"]))
    records = list(company.records(query.entity).values())
    sample = entity_jsons(company, query.entity, records[:50])
    check_fields(query, frozenset(k.lower() for b in sample for k in b) | QUERYABLE_EXTRA)
    getters = QUERY_FIELDS[query.entity]
    needed = named_fields(query)
    if needed <= getters.keys():
        rows = [({name: getters[name](r) for name in needed}, r) for r in records]
        chosen, total = select(query, rows)
        page = entity_jsons(company, query.entity, chosen)
    else:
        bodies = entity_jsons(company, query.entity, records)
        chosen, total = select(query, list(zip(bodies, bodies, strict=True)))
        page = chosen  # type: ignore[assignment]
    if query.count:
        return {"totalCount": total}
    if not total:
        return {}
    answer: dict = {query.entity: project(query, page)} if page else {}
    return {**answer, "startPosition": query.start, "maxResults": len(page), "totalCount": total}


@get(f"{COMPANY}/query")
async def query_get(request: Request) -> Response:
    call = Call(request)
    text = request.query_params.get("query", "")
    return call.answer({"QueryResponse": query_response(call.company, text)})


@post(f"{COMPANY}/query", status_code=200)
async def query_post(request: Request) -> Response:
    """Intuit also takes the query as a POST body (Content-Type application/text)."""
    call = Call(request)
    text = request.query_params.get("query") or (await request.body()).decode()
    return call.answer({"QueryResponse": query_response(call.company, text)})


def _read(entity: str) -> HTTPRouteHandler:
    async def read(request: Request, entity_id: FromPath[str]) -> Response:
        call = Call(request)
        record = call.company.records(entity).get(entity_id)
        if record is None:
            raise not_found()
        return call.answer({entity: entity_jsons(call.company, entity, [record])[0]})

    read.__name__ = f"read_{entity.lower()}"
    return get(f"{COMPANY}/{entity.lower()}/{{entity_id:str}}")(read)


READS = [_read(entity) for entity in ENTITIES]


@get(f"{COMPANY}/invoice/{{entity_id:str}}/pdf", media_type="application/pdf")
async def read_invoice_pdf(request: Request, entity_id: FromPath[str]) -> Response:
    call = Call(request)
    invoice = call.company.invoices.get(entity_id)
    if invoice is None:
        raise not_found()
    return Response(invoice_pdf(call.company, invoice), media_type="application/pdf")


@get(f"{COMPANY}/companyinfo/{{company_id:str}}")
async def read_company_info(request: Request, company_id: FromPath[str]) -> Response:
    call = Call(request)
    if company_id not in ("1", call.access.realm_id):
        raise not_found()
    return call.answer({"CompanyInfo": company_info_json(call.company)})


@get(f"{COMPANY}/preferences")
async def read_preferences(request: Request) -> Response:
    call = Call(request)
    return call.answer({"Preferences": preferences_json(call.company)})


# --- writes ---------------------------------------------------------------------------------


def invoice_write(quickbooks: QuickBooksSandbox, realm: str, body: dict, operation: str) -> dict:
    """One Invoice write (POST /invoice or a batch item): create, update, void or delete."""
    store, company = quickbooks.store, quickbooks.store.company(realm)
    if operation == "delete":
        invoice = store.delete_invoice(realm, body)
        return {"Invoice": {"domain": "QBO", "status": "Deleted", "Id": invoice.id}}
    if operation == "void":
        return {"Invoice": invoice_json(company, store.void_invoice(realm, body))}
    if body.get("Id"):
        return {"Invoice": invoice_json(company, store.update_invoice(realm, body))}
    return {"Invoice": invoice_json(company, store.create_invoice(realm, body))}


def payment_write(quickbooks: QuickBooksSandbox, realm: str, body: dict, operation: str) -> dict:
    store, company = quickbooks.store, quickbooks.store.company(realm)
    if operation == "delete":
        payment = store.delete_payment(realm, body)
        return {"Payment": {"domain": "QBO", "status": "Deleted", "Id": payment.id}}
    if operation == "void":
        return {"Payment": payment_json(company, store.void_payment(realm, body))}
    if body.get("Id"):
        raise invalid("Payments can be created, voided or deleted here, not updated", "2010")
    return {"Payment": payment_json(company, store.create_payment(realm, body))}


def customer_write(quickbooks: QuickBooksSandbox, realm: str, body: dict, operation: str) -> dict:
    store, company = quickbooks.store, quickbooks.store.company(realm)
    if operation in ("delete", "void"):
        raise invalid("Customers cannot be deleted; set Active to false", "2010")
    if body.get("Id"):
        customer = store.update_customer(realm, body)
    else:
        customer = store.create_customer(realm, body)
    return {"Customer": customer_json(company, customer)}


WRITERS = {"Invoice": invoice_write, "Payment": payment_write, "Customer": customer_write}


def _write_handler(entity: str) -> HTTPRouteHandler:
    async def write(request: Request) -> Response:
        call = Call(request)
        operation = request.query_params.get("operation", "")
        if operation not in ("", "create", "update", "delete", "void"):
            raise invalid(f"operation {operation} is not supported", "2010", "operation")
        if operation == "update" and request.query_params.get("include") == "void":
            operation = "void"  # how a payment is voided

        async def apply() -> dict:
            body = await call.json_body()
            return WRITERS[entity](call.quickbooks, call.access.realm_id, body, operation)

        return await call.once(apply)

    write.__name__ = f"write_{entity.lower()}"
    return post(f"{COMPANY}/{entity.lower()}", status_code=200)(write)


WRITES = [_write_handler(entity) for entity in WRITERS]


# --- change data capture --------------------------------------------------------------------


def cdc_response(company: Company, now: datetime, entities: str, changed_since: str) -> dict:
    names = [name.strip() for name in entities.split(",") if name.strip()]
    if not names:
        raise invalid("entities is required", "2020", "entities")
    wanted = []
    for name in names:
        entity = next((e for e in ENTITIES if e.lower() == name.lower()), None)
        if entity is None:
            raise invalid(f"{name} is not supported by change data capture", "2010", "entities")
        wanted.append(entity)
    try:
        since = datetime.fromisoformat(changed_since)
    except ValueError as error:
        raise invalid(f"changedSince {changed_since} is not a date time", "2010") from error
    if since.tzinfo is None:
        since = since.replace(tzinfo=now.tzinfo)
    if now - since > timedelta(days=CDC_MAX_DAYS):
        raise invalid(
            f"changedSince can be at most {CDC_MAX_DAYS} days in the past", "2010", "changedSince"
        )
    changed: list[tuple[datetime, str, object]] = []
    for entity in wanted:
        records = company.records(entity).values()
        changed += [(r.updated, entity, r) for r in records if r.updated >= since]
        tombstones = [t for t in company.tombstones if t.entity == entity]
        changed += [(t.deleted, entity, t) for t in tombstones if t.deleted >= since]
    changed.sort(key=lambda each: each[0])
    changed = changed[:CDC_MAX_OBJECTS]  # the oldest changes first; the rest on a later call
    responses: list[dict] = []
    for entity in wanted:
        mine = [record for _, kind, record in changed if kind == entity]
        live = [r for r in mine if not isinstance(r, Tombstone)]
        bodies = entity_jsons(company, entity, live)
        bodies += [tombstone_json(t.id, t.deleted) for t in mine if isinstance(t, Tombstone)]
        count = len(bodies)
        paged = {"startPosition": 1, "maxResults": count, "totalCount": count}
        responses.append({entity: bodies, **paged} if bodies else {})
    return {"CDCResponse": [{"QueryResponse": responses}]}


@get(f"{COMPANY}/cdc")
async def change_data_capture(request: Request) -> Response:
    call = Call(request)
    params = request.query_params
    body = cdc_response(
        call.company,
        call.quickbooks.clock.now(),
        params.get("entities", ""),
        params.get("changedSince", ""),
    )
    return call.answer(body)


# --- batch ------------------------------------------------------------------------------------


def _batch_item(call: Call, item: dict) -> dict:
    bid = str(item.get("bId", ""))
    try:
        if "Query" in item:
            return {"bId": bid, "QueryResponse": query_response(call.company, str(item["Query"]))}
        entity = next((name for name in WRITERS if name in item), None)
        if entity is None:
            raise invalid("The batch item names no operation the sandbox supports", "2010")
        operation = str(item.get("operation", "create")).lower()
        if item.get("optionsData") == "void":
            operation = "void"
        realm = call.access.realm_id
        return {"bId": bid, **WRITERS[entity](call.quickbooks, realm, item[entity], operation)}
    except QBFault as fault:
        return {"bId": bid, "Fault": fault.fault_json()}


@post(f"{COMPANY}/batch", status_code=200)
async def batch(request: Request) -> Response:
    """Up to 30 items, run in order; each answers its entity, its QueryResponse or a Fault."""
    call = Call(request)
    body = await call.json_body()
    items = body.get("BatchItemRequest")
    if not isinstance(items, list) or not items:
        raise invalid("BatchItemRequest is required", "2020", "BatchItemRequest")
    limit = call.quickbooks.limiter.limits.batch_items
    if len(items) > limit:
        raise invalid(f"A batch can have at most {limit} items; it had {len(items)}", "2010")
    bids = [str(item.get("bId", "")) for item in items]
    if "" in bids or len(set(bids)) != len(bids):
        raise invalid("Every batch item needs a bId, unique within the batch", "2010", "bId")

    async def apply() -> dict:
        return {"BatchItemResponse": [_batch_item(call, item) for item in items]}

    return await call.once(apply)


API_HANDLERS: list[HTTPRouteHandler] = [
    query_get,
    query_post,
    *READS,
    read_invoice_pdf,
    read_company_info,
    read_preferences,
    *WRITES,
    change_data_capture,
    batch,
]


async def not_emulated(request: Request) -> Response:
    """What the sandbox answers for an API route it does not emulate: QuickBooks' Unsupported
    Operation (code 500, a ValidationFault), with a warning naming the route in the log."""
    log.warning("QuickBooks sandbox: %s %s is not emulated", request.method, request.url.path)
    detail = f"Operation {request.method} {request.url.path} is not supported by the sandbox"
    fault = QBFault([QBError("Unsupported Operation", "500", detail)])
    return fault_response(fault, request.app.state.quickbooks.clock.now())


def fault_handler(request: Request, fault: QBFault) -> Response:
    return fault_response(fault, request.app.state.quickbooks.clock.now())
