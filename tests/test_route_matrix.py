"""Who may call what, walked from the app's own route table.

EXPECTED writes down, for every route handler (method and path), who may call it: PUBLIC, or
the least role that may. The tests hold the app to it:

- the route table and EXPECTED have the same keys, and each route's guards say what EXPECTED
  says, so a new route cannot go in without someone deciding who may call it;
- every route is called as a stranger, a viewer, a collector and an admin of organisation A,
  with ids of rows A owns: a stranger is sent to sign in (401 for /api), a role below the
  route's is refused (403), anyone else gets neither, and nobody a 5xx (a 503 only where
  Temporal is needed, and it is down in tests);
- every route that takes an id is called by organisation B's admin with A's ids: 404, and
  nothing of A's changes (the same call by A's admin is not a 404, so the path and body were
  right and only the owner differs); ids of A's in forms and query strings find nothing
  either.

Litestar's generated OPTIONS handlers (they answer 204 with the Allow header, to anyone) have
no entry: they are checked to do exactly that.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import SQLModel

from duely.core.links import PORTAL, UNSUBSCRIBE, LinkTarget, make_token
from duely.core.security import new_api_token
from duely.models import (
    ApiToken,
    Customer,
    ImportKind,
    ImportStatus,
    Provider,
    Role,
    Schedule,
    ScheduleStep,
    SpreadsheetImport,
    Template,
    User,
    utcnow,
)
from duely.web.app import PUBLIC_PATHS, create_app
from duely.web.auth import requires_admin, requires_collector
from tests.conftest import Org, api_token, csrf_from, login
from tests.factories import (
    add_alert,
    add_connection,
    add_customer,
    add_invoice,
    add_message,
    add_payment,
)

PUBLIC = "public"
ANONYMOUS = "anonymous"
VIEWER, COLLECTOR, ADMIN = Role.VIEWER, Role.COLLECTOR, Role.ADMIN
CALLERS = [ANONYMOUS, VIEWER, COLLECTOR, ADMIN]
RANK = {VIEWER: 0, COLLECTOR: 1, ADMIN: 2}

EXPECTED = {
    # --- public, and why ---------------------------------------------------------------------
    # Signing in, and the token that stands for it in the API.
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    # Load balancers probe it; strangers learn only "ok" or "not ok" (admins get details).
    ("GET", "/healthz"): PUBLIC,
    # Webhooks: each checks its provider's signature instead.
    ("POST", "/webhooks/sms"): PUBLIC,
    ("POST", "/webhooks/stripe"): PUBLIC,
    ("POST", "/webhooks/xero"): PUBLIC,
    ("POST", "/webhooks/quickbooks"): PUBLIC,
    # Customer links: the signed token in the path is the credential.
    ("GET", "/pay/{token:str}"): PUBLIC,
    ("POST", "/pay/{token:str}/card"): PUBLIC,
    ("POST", "/pay/{token:str}/dispute"): PUBLIC,
    ("GET", "/pay/{token:str}/invoices/{filename:str}"): PUBLIC,
    ("POST", "/pay/{token:str}/paid"): PUBLIC,
    ("POST", "/pay/{token:str}/promise"): PUBLIC,
    ("GET", "/unsubscribe/{token:str}"): PUBLIC,
    ("POST", "/unsubscribe/{token:str}"): PUBLIC,  # mail clients post here (RFC 8058)
    # The API's documentation and the stylesheets and scripts every page loads.
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/{path:str}"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("HEAD", "/static/{file_path:path}"): PUBLIC,
    # The Temporal UI's CORS preflight: it carries no cookie, grants nothing, and answers 403
    # to any origin but the UI's.
    ("OPTIONS", "/codec/decode"): PUBLIC,
    ("OPTIONS", "/codec/encode"): PUBLIC,
    # --- anyone signed in: reading, and their own account ------------------------------------
    ("GET", "/"): VIEWER,
    ("GET", "/account"): VIEWER,
    ("POST", "/account/password"): VIEWER,
    ("POST", "/account/tokens"): VIEWER,
    ("POST", "/account/tokens/{token_id:int}/revoke"): VIEWER,  # their own (an admin: any)
    ("POST", "/logout"): VIEWER,
    ("GET", "/api/v1/auth/tokens"): VIEWER,
    ("DELETE", "/api/v1/auth/tokens/{token_id:int}"): VIEWER,  # their own (an admin: any)
    ("GET", "/api/v1/connections"): VIEWER,
    ("GET", "/api/v1/customers"): VIEWER,
    ("GET", "/api/v1/customers/{customer_id:int}"): VIEWER,
    ("GET", "/api/v1/invoices"): VIEWER,
    ("GET", "/api/v1/invoices/{invoice_id:int}"): VIEWER,
    ("GET", "/api/v1/organisation"): VIEWER,
    ("GET", "/api/v1/outbox"): VIEWER,
    ("GET", "/api/v1/payments"): VIEWER,
    ("GET", "/connections"): VIEWER,
    ("GET", "/connections/{connection_id:int}/progress"): VIEWER,
    ("GET", "/customers"): VIEWER,
    ("GET", "/customers/{customer_id:int}"): VIEWER,
    ("GET", "/invoices"): VIEWER,
    ("GET", "/invoices/{invoice_id:int}"): VIEWER,
    ("GET", "/invoices/{invoice_id:int}/chase"): VIEWER,
    ("GET", "/outbox"): VIEWER,
    ("GET", "/payments"): VIEWER,
    ("GET", "/settings/organisation"): VIEWER,
    ("GET", "/settings/schedules"): VIEWER,
    ("GET", "/settings/schedules/{schedule_id:int}"): VIEWER,
    ("GET", "/settings/schedules/{schedule_id:int}/preview"): VIEWER,
    ("GET", "/settings/templates"): VIEWER,
    ("GET", "/settings/templates/new"): VIEWER,  # the form; saving it needs an admin
    ("GET", "/settings/templates/{template_id:int}"): VIEWER,
    ("POST", "/settings/templates/preview"): VIEWER,  # renders unsaved text, writes nothing
    # --- collectors: acting on chases, customers, call tasks and integration alerts ----------
    ("GET", "/api/v1/customers/{customer_id:int}/portal-link"): COLLECTOR,  # acts as customer
    ("POST", "/api/v1/connections/{connection_id:int}/sync"): COLLECTOR,
    ("POST", "/api/v1/customers/{customer_id:int}/chasing"): COLLECTOR,
    ("DELETE", "/api/v1/customers/{customer_id:int}/opt-outs/{channel:str}"): COLLECTOR,
    ("GET", "/api/v1/integration-health"): COLLECTOR,
    ("POST", "/api/v1/integration-health/alerts/{alert_id:int}/seen"): COLLECTOR,
    ("POST", "/api/v1/invoices/{invoice_id:int}/actions/{action:str}"): COLLECTOR,
    ("POST", "/api/v1/outbox/{message_id:int}/done"): COLLECTOR,
    ("POST", "/connections/{connection_id:int}/sync"): COLLECTOR,
    ("POST", "/customers/{customer_id:int}/chasing"): COLLECTOR,
    ("POST", "/customers/{customer_id:int}/opt-outs/{channel:str}/clear"): COLLECTOR,
    ("GET", "/integrations"): COLLECTOR,
    ("POST", "/integrations/alerts/{alert_id:int}/seen"): COLLECTOR,
    ("POST", "/invoices/{invoice_id:int}/chase/{action:str}"): COLLECTOR,
    ("POST", "/outbox/{message_id:int}/done"): COLLECTOR,
    # --- admins: the organisation's settings, ledgers, schedules, templates -------------------
    ("PATCH", "/api/v1/organisation"): ADMIN,
    ("POST", "/codec/decode"): ADMIN,  # decrypted workflow payloads are customers' data
    ("POST", "/codec/encode"): ADMIN,
    ("GET", "/connections/xero/callback"): ADMIN,
    ("GET", "/connections/xero/choose"): ADMIN,
    ("POST", "/connections/xero/choose"): ADMIN,
    ("POST", "/connections/xero/connect"): ADMIN,
    ("GET", "/connections/quickbooks/callback"): ADMIN,
    ("POST", "/connections/quickbooks/connect"): ADMIN,
    ("GET", "/connections/accountsiq"): ADMIN,
    ("POST", "/connections/accountsiq/connect"): ADMIN,
    ("GET", "/imports"): COLLECTOR,
    ("GET", "/imports/receipts.csv"): COLLECTOR,
    ("GET", "/imports/{import_id:int}"): COLLECTOR,
    ("GET", "/imports/{import_id:int}/progress"): COLLECTOR,
    ("POST", "/imports"): ADMIN,
    ("POST", "/imports/{import_id:int}/columns"): ADMIN,
    ("POST", "/imports/{import_id:int}/confirm"): ADMIN,
    ("POST", "/imports/{import_id:int}/cancel"): ADMIN,
    ("POST", "/customers/{customer_id:int}/schedule"): ADMIN,
    ("POST", "/settings/organisation"): ADMIN,
    ("POST", "/settings/organisation/stripe"): ADMIN,
    ("POST", "/settings/organisation/stripe/connect"): ADMIN,
    ("GET", "/settings/organisation/stripe/connected"): ADMIN,
    ("POST", "/settings/organisation/stripe/disconnect"): ADMIN,
    ("POST", "/settings/schedules"): ADMIN,
    ("POST", "/settings/schedules/{schedule_id:int}/default"): ADMIN,
    ("POST", "/settings/schedules/{schedule_id:int}/group"): ADMIN,
    ("POST", "/settings/schedules/{schedule_id:int}/delete"): ADMIN,
    ("POST", "/settings/schedules/{schedule_id:int}/rename"): ADMIN,
    ("POST", "/settings/schedules/{schedule_id:int}/steps"): ADMIN,
    ("POST", "/settings/templates/new"): ADMIN,
    ("POST", "/settings/templates/{template_id:int}"): ADMIN,
    ("POST", "/settings/templates/{template_id:int}/delete"): ADMIN,
}

GUARD_ROLES = {requires_collector: COLLECTOR, requires_admin: ADMIN}

NEEDS_TEMPORAL = {
    # May answer 503 saying Temporal could not be reached (it is down in tests).
    # Steering an import's workflow.
    ("POST", "/imports/{import_id:int}/columns"),
    ("POST", "/imports/{import_id:int}/confirm"),
    ("POST", "/imports/{import_id:int}/cancel"),
    ("GET", "/healthz"),
    ("POST", "/api/v1/connections/{connection_id:int}/sync"),
    ("POST", "/connections/{connection_id:int}/sync"),
    ("POST", "/api/v1/invoices/{invoice_id:int}/actions/{action:str}"),
    ("POST", "/invoices/{invoice_id:int}/chase/{action:str}"),
    # Switching chasing on starts chases; so can changing the organisation's settings.
    ("POST", "/api/v1/customers/{customer_id:int}/chasing"),
    ("POST", "/customers/{customer_id:int}/chasing"),
    ("PATCH", "/api/v1/organisation"),
    ("POST", "/settings/organisation"),
}
TEMPORAL_DOWN = re.compile(r"could not be (reached|requested)|not ok|\"temporal\":\{\"ok\":false")

PATH_PARAMETER = re.compile(r"\{(\w+):\w+\}")


# --- the route table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """Litestar's path template, e.g. /invoices/{invoice_id:int}."""
    handler: HTTPRouteHandler
    path_methods: frozenset[str]
    """Every method the path answers, as its Allow header should list them."""

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def generated(self) -> bool:
        """Litestar's own OPTIONS handler, added to every path that has none."""
        return self.handler.fn.__qualname__.endswith(
            "create_options_handler.<locals>.options_handler"
        )

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def parameters(self) -> list[str]:
        return PATH_PARAMETER.findall(self.path)


def route_table(app: Litestar) -> list[Route]:
    routes = [
        Route(method, route.path, handler, frozenset(route.methods))
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods
    ]
    return sorted(routes, key=lambda route: (route.path, route.method))


def guarded_access(route: Route) -> str | Role:
    """What the route's guards, opt and the app's public paths say about it."""
    guards = [guard for layer in route.handler.ownership_layers for guard in layer.guards or []]
    roles = [GUARD_ROLES[guard] for guard in guards]  # a KeyError: a guard this test must learn
    if roles:
        return max(roles, key=RANK.__getitem__)
    public = route.handler.opt.get("exclude_from_auth") or any(
        re.match(pattern, route.path) for pattern in PUBLIC_PATHS
    )
    return PUBLIC if public else VIEWER


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_has_a_written_access_decision(settings):
    routes = [route for route in route_table(create_app(settings)) if not route.generated]
    table = {route.key for route in routes}
    assert not table - EXPECTED.keys(), "routes nobody decided about: add them to EXPECTED"
    assert not EXPECTED.keys() - table, "EXPECTED lists routes the app no longer has"
    disagreeing = {
        route.key: (EXPECTED[route.key], guarded_access(route))
        for route in routes
        if guarded_access(route) != EXPECTED[route.key]
    }
    assert not disagreeing, f"(EXPECTED, what the guards say): {disagreeing}"


# --- organisation A's rows, and what fills each path parameter ----------------------------------


@dataclass
class Rows:
    values: dict[str, object]
    """Path parameter -> a value naming one of A's rows."""
    spare: dict[str, object]
    """Path parameter -> a row only the routes that delete or revoke use."""
    by_prefix: dict[str, dict[str, str]] = field(default_factory=dict)
    """Path prefix -> parameters whose value depends on the route (customer links)."""

    def path_for(self, route: Route) -> str:
        values = dict(self.values)
        for prefix, extra in self.by_prefix.items():
            if route.path.startswith(prefix):
                values.update(extra)
        if re.search(r"/(delete|revoke)$", route.path) or route.method == "DELETE":
            values.update(self.spare)
        return PATH_PARAMETER.sub(lambda match: str(values[match.group(1)]), route.path)


def add_token(db, email: str, name: str) -> ApiToken:
    user = db.exec(select(User).where(User.email == email)).scalar_one()
    _, digest = new_api_token()
    token = ApiToken(
        organisation_id=user.organisation_id,
        user_id=user.id,
        name=name,
        token_hash=digest,
        expires_at=utcnow() + timedelta(days=30),
    )
    db.add(token)
    db.commit()
    return token


def add_import(db, org_id: int) -> SpreadsheetImport:
    """A checked spreadsheet import waiting for its confirmation."""
    sheets = add_connection(db, org_id, "sheets", provider=Provider.CSV)
    upload = SpreadsheetImport(
        organisation_id=org_id,
        connection_id=sheets.id,
        kind=ImportKind.INVOICES,
        filename="invoices.csv",
        stored_as="/nonexistent/invoices.csv",
        status=ImportStatus.READY,
        rows_total=1,
        rows_ok=1,
    )
    db.add(upload)
    db.commit()
    return upload


def add_rows(db, settings, org: Org) -> Rows:
    """One of every kind of row a path names, in `org`; a second of those routes delete."""
    customer = add_customer(db, org.id, "Acme Widgets", email_opted_out_at=utcnow())
    invoice = add_invoice(db, customer, "INV-1", days_overdue=10)
    add_payment(db, org.id, "pi_1", invoice=invoice)
    target = LinkTarget(org.id, customer.id)
    schedules = [Schedule(organisation_id=org.id, name=name) for name in ("Second", "Spare")]
    templates = [Template(organisation_id=org.id, name=name) for name in ("Extra", "Spare")]
    db.add_all([*schedules, *templates])
    db.commit()
    # Something for a schedule's and a customer's forms to change.
    db.add(ScheduleStep(organisation_id=org.id, schedule_id=schedules[0].id))
    customer.schedule_id = schedules[0].id
    db.add(customer)
    db.commit()
    return Rows(
        values={
            "customer_id": customer.id,
            "invoice_id": invoice.id,
            "connection_id": add_connection(db, org.id, "acme").id,
            "import_id": add_import(db, org.id).id,
            "message_id": add_message(db, customer, "call", channel="call_task", status="open").id,
            "alert_id": add_alert(db, org.id, "refund:re_1", invoice_id=invoice.id).id,
            "schedule_id": schedules[0].id,
            "template_id": templates[0].id,
            "token_id": add_token(db, org.admin, "kept").id,
            "action": "pause",
            "channel": "email",
            "filename": f"{invoice.id}.pdf",
            "file_path": "duely.css",
            "path": "no-such-page",
        },
        spare={
            "schedule_id": schedules[1].id,
            "template_id": templates[1].id,
            "token_id": add_token(db, org.admin, "spare").id,
        },
        by_prefix={
            "/pay/": {"token": make_token(settings.resolved_secret_key, PORTAL, target)},
            "/unsubscribe/": {
                "token": make_token(settings.resolved_secret_key, UNSUBSCRIBE, target)
            },
        },
    )


# --- callers ---------------------------------------------------------------------------------


@dataclass
class Caller:
    """One role, on its own copy of the app (so the sign-in rate limit counts per role):
    its session cookie for pages, its bearer token for /api, and the CSRF header for both."""

    email: str | None
    """None: a stranger."""
    client: AsyncTestClient
    headers: dict[str, str] = field(default_factory=dict)

    async def sign_in(self) -> None:
        if self.email is None:  # just the CSRF cookie and token, as a browser would have them
            self.headers = {"x-csrftoken": csrf_from((await self.client.get("/login")).text)}
            return
        await login(self.client, self.email)
        self.headers = await api_token(self.client, self.email)
        self.headers["x-csrftoken"] = csrf_from((await self.client.get("/account")).text)

    async def call(self, route: Route, path: str, **body):
        if route.is_api and route.method in ("POST", "PATCH") and not body:
            body = {"json": {}}
        return await self.client.request(
            route.method, path, headers=self.headers, follow_redirects=False, **body
        )


@asynccontextmanager
async def callers(settings, emails: dict) -> AsyncIterator[dict]:
    async with AsyncExitStack() as stack:
        signed_in = {}
        for who, email in emails.items():
            client = await stack.enter_async_context(AsyncTestClient(app=create_app(settings)))
            signed_in[who] = Caller(email, client)
            await signed_in[who].sign_in()
        yield signed_in


def asked_to_sign_in(response) -> bool:
    """The sign-in door: pages redirect to /login?next=... (plain /login is where signing out
    leads), the API and the codec answer 401."""
    if response.is_redirect:
        return response.headers["location"].startswith("/login?next=")
    return response.status_code == 401 and "Sign in to continue." in response.text


def server_error(route: Route, response) -> bool:
    temporal_down = (
        response.status_code == 503
        and route.key in NEEDS_TEMPORAL
        and TEMPORAL_DOWN.search(response.text)
    )
    return response.status_code >= 500 and not temporal_down


def wrong_answer(route: Route, who: str | Role, response) -> str | None:
    """Why `response` is not what `who` should get from `route`, or None."""
    status = response.status_code
    if server_error(route, response):
        return "a server error"
    if route.generated:
        allowed = set(response.headers.get("allow", "").split(", "))
        # Only a subset: Litestar 2 lists just the methods of the handlers registered before
        # it made the OPTIONS handler (litestar-org/litestar#4169, fixed in v3).
        ok = status == 204 and "OPTIONS" in allowed and allowed <= route.path_methods
        return None if ok else "not Litestar's 204 with the Allow header"
    access = EXPECTED[route.key]
    if access == PUBLIC:
        return "sent to sign in on a public route" if asked_to_sign_in(response) else None
    if who == ANONYMOUS:
        if route.is_api and status != 401:
            return "a stranger on /api gets no 401"
        return None if asked_to_sign_in(response) else "a stranger is not sent to sign in"
    if RANK[who] < RANK[access]:
        return None if status == 403 else f"{who} is below {access} and gets no 403"
    if asked_to_sign_in(response) or status in (401, 403):
        return f"{who} may call it and is refused"
    return None


@pytest.fixture
def rows(db, settings, org_a) -> Rows:
    return add_rows(db, settings, org_a)


SUMMARY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_summary(request):
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")  # shown without -s
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        print(
            f"\nroute matrix: {SUMMARY['routes']} route handlers x 4 callers, on "
            f"{SUMMARY['databases']} database(s): {SUMMARY['role calls']} calls, "
            f"{SUMMARY['wrong']} wrong answers ({SUMMARY['5xx']} of them 5xx); "
            f"another organisation's ids: {SUMMARY['cross-org calls']} calls, "
            f"{SUMMARY['cross-org wrong']} wrong answers"
        )


async def test_each_caller_gets_what_the_route_decision_says(settings, org_a, rows):
    emails = {
        ANONYMOUS: None,
        VIEWER: org_a.viewer,
        COLLECTOR: org_a.collector,
        ADMIN: org_a.admin,
    }
    wrong = []
    async with callers(settings, emails) as by_role:
        routes = route_table(by_role[ADMIN].client.app)
        for route in routes:
            path = rows.path_for(route)
            for who in CALLERS:
                caller = by_role[who]
                response = await caller.call(route, path)
                SUMMARY["role calls"] += 1
                problem = wrong_answer(route, who, response)
                if problem:
                    SUMMARY["5xx"] += response.status_code >= 500
                    wrong.append(
                        f"{route.method} {path} as {who}: {response.status_code}, {problem}"
                    )
                if route.key == ("POST", "/logout") and caller.email:
                    await caller.sign_in()  # signed out just now: the next routes need them in
    SUMMARY["routes"] = len(routes)
    SUMMARY["databases"] += 1
    SUMMARY["wrong"] += len(wrong)
    assert not wrong, "\n".join(wrong)


# --- another organisation's ids ----------------------------------------------------------------

ID_PARAMETER = re.compile(r"_id$")
CROSS_ORG_BODIES = {
    # What would change A's row if the route forgot whose it is: each a valid request.
    ("POST", "/customers/{customer_id:int}/chasing"): {"data": {"enabled": "off"}},
    ("POST", "/customers/{customer_id:int}/schedule"): {"data": {"schedule_id": ""}},  # default
    ("POST", "/invoices/{invoice_id:int}/chase/{action:str}"): {"data": {"reason": "mine now"}},
    ("POST", "/settings/schedules/{schedule_id:int}/rename"): {"data": {"name": "Taken over"}},
    ("POST", "/settings/schedules/{schedule_id:int}/steps"): {"data": {"action": "save"}},
    ("POST", "/settings/templates/{template_id:int}"): {
        "data": {"name": "Taken over", "tone": "firm", "subject": "Pay", "body": "Pay now."}
    },
    ("POST", "/api/v1/customers/{customer_id:int}/chasing"): {"json": {"enabled": False}},
    ("POST", "/api/v1/invoices/{invoice_id:int}/actions/{action:str}"): {
        "json": {"reason": "mine now"}
    },
}
# Bookkeeping that signing in and using a token writes, whoever asks.
UNWATCHED = {"web_sessions": None, "api_tokens": {"last_used_at"}, "users": {"last_login_at"}}


def org_rows(db, org_id: int) -> dict[str, list[tuple]]:
    """Every row organisation `org_id` owns, table by table (its own row too)."""
    rows = {}
    for table in SQLModel.metadata.sorted_tables:
        owner = table.c.get("organisation_id")
        if owner is None and table.name != "organisations":
            continue
        ignored = UNWATCHED.get(table.name, set())
        if ignored is None:
            continue
        columns = [column for column in table.c if column.name not in ignored]
        mine = owner == org_id if owner is not None else table.c.id == org_id
        rows[table.name] = sorted(map(tuple, db.exec(select(*columns).where(mine)).all()))
    db.rollback()  # end the read, so the app's writes are not held up (SQLite)
    return rows


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


async def test_another_organisations_ids_are_not_found_and_change_nothing(
    settings, db, org_a, org_b, rows
):
    emails = {"B's admin": org_b.admin, "A's admin": org_a.admin}
    wrong = []
    async with callers(settings, emails) as by_who:
        routes = [
            route
            for route in route_table(by_who["A's admin"].client.app)
            if route.method not in ("OPTIONS", "HEAD")
            and any(ID_PARAMETER.search(name) for name in route.parameters)
        ]
        for route in routes:
            path, body = rows.path_for(route), CROSS_ORG_BODIES.get(route.key, {})
            before = org_rows(db, org_a.id)
            response = await by_who["B's admin"].call(route, path, **body)
            SUMMARY["cross-org calls"] += 1
            changed = changed_tables(before, org_rows(db, org_a.id))
            if response.status_code != 404 or changed:
                wrong.append(f"{route.method} {path}: {response.status_code}, changed {changed}")
        # The same calls by the owner find the rows: B's 404s were about whose they are.
        for route in routes:
            path, body = rows.path_for(route), CROSS_ORG_BODIES.get(route.key, {})
            response = await by_who["A's admin"].call(route, path, **body)
            if response.status_code in (401, 403, 404) or server_error(route, response):
                wrong.append(f"{route.method} {path} by its owner: {response.status_code}")
    SUMMARY["cross-org wrong"] += len(wrong)
    assert len(routes) >= 30  # the walk found the routes that take ids
    assert not wrong, "\n".join(wrong)


async def test_another_organisations_ids_in_forms_and_queries_find_nothing(
    settings, db, org_a, org_b, rows
):
    """Ids that travel in a form or a query string rather than the path."""
    ours = add_customer(db, org_b.id, "Bravo's customer")
    our_schedule = Schedule(organisation_id=org_b.id, name="Ours")
    our_template = Template(organisation_id=org_b.id, name="Ours")
    db.add_all([our_schedule, our_template])
    db.commit()
    theirs = rows.values
    their_step = db.exec(select(ScheduleStep.id).where(ScheduleStep.organisation_id == org_a.id))
    their_step_id = their_step.scalars().first()
    db.rollback()
    step_form = {"action": "save", "step-0-offset_days": "1", "step-0-channel": "email"}
    async with callers(settings, {"B's admin": org_b.admin}) as by_who:
        b = by_who["B's admin"]
        before = org_rows(db, org_a.id)
        preview = {"name": "x", "tone": "friendly", "subject": "Hi", "body": "Pay."}
        refused = {
            "their customer, previewed": await b.client.post(
                "/settings/templates/preview",
                data={**preview, "preview_customer_id": str(theirs["customer_id"])},
                headers={**b.headers, "HX-Request": "true"},
            ),
            "their template, previewed": await b.client.post(
                "/settings/templates/preview",
                data={**preview, "template_id": str(theirs["template_id"])},
                headers=b.headers,
            ),
            "their schedule, for our customer": await b.client.post(
                f"/customers/{ours.id}/schedule",
                data={"schedule_id": str(theirs["schedule_id"])},
                headers=b.headers,
            ),
            "their template, in our schedule": await b.client.post(
                f"/settings/schedules/{our_schedule.id}/steps",
                data={**step_form, "step-0-template_id": str(theirs["template_id"])},
                headers=b.headers,
            ),
        }
        # Their step's id with our own template: saved as a new row of ours, theirs untouched.
        await b.client.post(
            f"/settings/schedules/{our_schedule.id}/steps",
            data={
                **step_form,
                "step-0-template_id": str(our_template.id),
                "step-0-id": str(their_step_id),
            },
            headers=b.headers,
        )
        listed = {}
        for query in (
            f"/api/v1/invoices?customer_id={theirs['customer_id']}",
            f"/api/v1/payments?customer_id={theirs['customer_id']}",
            f"/api/v1/payments?invoice_id={theirs['invoice_id']}",
            f"/api/v1/outbox?customer_id={theirs['customer_id']}",
        ):
            listed[query] = (await b.client.get(query, headers=b.headers)).json()["total"]
        after = org_rows(db, org_a.id)
    SUMMARY["cross-org calls"] += len(refused) + 1 + len(listed)
    assert {what: answer.status_code for what, answer in refused.items()} == {
        "their customer, previewed": 404,
        "their template, previewed": 404,
        "their schedule, for our customer": 422,
        "their template, in our schedule": 422,
    }
    assert listed == dict.fromkeys(listed, 0)
    assert changed_tables(before, after) == []
    db.expire_all()
    assert db.get(Customer, ours.id).schedule_id is None
