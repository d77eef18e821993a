"""Connections to ledgers: connect Xero or QuickBooks (OAuth) or AccountsIQ (keys pasted in a
form), choose the Xero tenant, sync now, watch a sync."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlmodel import select

from duely.ledgers.connect import (
    ACCOUNTSIQ_LOCATIONS,
    ConnectRefused,
    Grant,
    GrantRefused,
    connect_accountsiq_company,
    connect_quickbooks_company,
    connect_xero_tenant,
    ledger_profile,
    quickbooks_authorization,
    redeem_xero_code,
    xero_authorization,
)
from duely.models import Connection, SyncRun
from duely.web.auth import requires_admin, requires_collector
from duely.web.chase import ChaseEngineDown, retry_waiting_payments
from duely.web.connections import SYNC_ENGINE_DOWN, latest_run, sync_soon
from duely.web.deps import DbSession, get_owned

OAUTH_SESSION_KEY = "xero_oauth"
QUICKBOOKS_OAUTH_KEY = "quickbooks_oauth"
PENDING_GRANT_KEY = "xero_pending_grant"
PROFILE_KEY = "ledger_profile"
FIRST_SYNC_WAITS = (
    "Connected, but the first sync could not start: the engine that runs syncs (Temporal) "
    "could not be reached ({reason}). Press Sync now on the Connections page once it is back."
)
SYNC_REFUSED = '<div class="sync-progress"><p class="error" role="alert">{{ refusal }}</p></div>'
"""In place of a sync's progress (connections/progress.html) when none could be asked for."""


class ConnectionsController(Controller):
    path = "/connections"

    @get("/", name="connections")
    async def index(self, request: Request, db_session: DbSession) -> Template:
        org_id = request.user.organisation_id
        connections = (
            await db_session.exec(
                select(Connection)
                .where(Connection.organisation_id == org_id)
                .order_by(Connection.id)
            )
        ).all()
        runs = (
            await db_session.exec(
                select(SyncRun)
                .where(SyncRun.organisation_id == org_id)
                .order_by(SyncRun.id.desc())
                .limit(20)
            )
        ).all()
        latest = {c.id: await latest_run(db_session, c.id) for c in connections}
        return Template(
            "connections/index.html",
            context={
                "connections": connections,
                "runs": runs,
                "latest": latest,
            },
        )

    @post("/xero/connect", guards=[requires_admin])
    async def connect_xero(self, request: Request) -> Redirect:
        state = request.app.state
        authorization = xero_authorization(state.ledgers, state.settings)
        # Bound to this browser session: the callback must come back to the same person.
        request.session[OAUTH_SESSION_KEY] = {
            "state": authorization.state,
            "verifier": authorization.code_verifier,
        }
        return Redirect(authorization.url, status_code=303)

    @get("/xero/callback", guards=[requires_admin])
    async def xero_callback(
        self,
        request: Request,
        code: FromQuery[str | None] = None,
        oauth_state: Annotated[str | None, QueryParameter(name="state")] = None,
        error: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        pending = request.session.pop(OAUTH_SESSION_KEY, None)
        if error:
            return _problem("Xero did not grant access", f"Xero answered: {error}.")
        if not pending or not code or oauth_state != pending["state"]:
            return _problem(
                "This sign-in link is stale",
                "The answer from Xero does not match a connection you started. "
                "Start again from Connections.",
            )
        ledgers = request.app.state.ledgers
        try:
            grant = await redeem_xero_code(
                ledgers, request.app.state.settings, code, pending["verifier"]
            )
        except GrantRefused as problem:
            return _problem("Xero did not grant access", str(problem))
        if not grant.tenants:
            return _problem(
                "No organisation was shared",
                "Pick at least one Xero organisation on Xero's consent page.",
            )
        if len(grant.tenants) > 1:
            request.session[PENDING_GRANT_KEY] = grant.sealed(ledgers.box)
            return Redirect("/connections/xero/choose")
        return await _finish(request, grant, grant.tenants[0].tenant_id)

    @post("/quickbooks/connect", guards=[requires_admin])
    async def connect_quickbooks(self, request: Request) -> Redirect:
        state = request.app.state
        authorization = quickbooks_authorization(state.ledgers, state.settings)
        # Bound to this browser session: the callback must come back to the same person.
        request.session[QUICKBOOKS_OAUTH_KEY] = {
            "state": authorization.state,
            "verifier": authorization.code_verifier,
        }
        return Redirect(authorization.url, status_code=303)

    @get("/quickbooks/callback", guards=[requires_admin])
    async def quickbooks_callback(
        self,
        request: Request,
        code: FromQuery[str | None] = None,
        oauth_state: Annotated[str | None, QueryParameter(name="state")] = None,
        realm_id: Annotated[str | None, QueryParameter(name="realmId")] = None,
        error: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        pending = request.session.pop(QUICKBOOKS_OAUTH_KEY, None)
        if error:
            return _problem("QuickBooks did not grant access", f"QuickBooks answered: {error}.")
        if not pending or not code or not realm_id or oauth_state != pending["state"]:
            return _problem(
                "This sign-in link is stale",
                "The answer from QuickBooks does not match a connection you started. "
                "Start again from Connections.",
            )
        state = request.app.state
        try:
            connection = await connect_quickbooks_company(
                state.db,
                state.ledgers,
                state.settings,
                request.user.organisation_id,
                code,
                pending["verifier"],
                realm_id,
            )
        except GrantRefused as problem:
            return _problem("QuickBooks did not grant access", str(problem))
        return await _after_connecting(request, connection)

    @get("/accountsiq", guards=[requires_admin], name="accountsiq_form")
    async def accountsiq_form(self, request: Request) -> Template:
        return _accountsiq_form(request, {"location": "uk1"}, "")

    @post("/accountsiq/connect", guards=[requires_admin])
    async def connect_accountsiq(self, request: Request) -> Template | Redirect:
        """The form's answer; with no fields (a Reconnect button), the form itself."""
        form = await request.form()
        if "company_id" not in form:
            return Redirect("/connections/accountsiq", status_code=303)
        values = {name: str(form.get(name, "")) for name in ("company_id", "user_key", "location")}
        state = request.app.state
        try:
            connection = await connect_accountsiq_company(
                state.db, state.ledgers, request.user.organisation_id, **values
            )
        except ConnectRefused as refused:
            values = {**values, "location": refused.location or values["location"]}
            return _accountsiq_form(request, values, str(refused), status_code=400)
        return await _after_connecting(request, connection)

    @get("/xero/choose", guards=[requires_admin])
    async def choose_tenant(self, request: Request) -> Template:
        pending = request.session.get(PENDING_GRANT_KEY)
        if not pending:
            raise NotFoundException("No Xero connection is waiting for a choice.")
        return Template("connections/choose.html", context={"tenants": pending["tenants"]})

    @post("/xero/choose", guards=[requires_admin])
    async def chose_tenant(self, request: Request) -> Template | Redirect:
        pending = request.session.pop(PENDING_GRANT_KEY, None)
        tenant_id = (await request.form()).get("tenant_id")
        if not pending or tenant_id not in {t["tenant_id"] for t in pending["tenants"]}:
            raise NotFoundException("No such Xero organisation in this grant.")
        grant = Grant.unsealed(pending, request.app.state.ledgers.box)
        return await _finish(request, grant, tenant_id)

    @post("/{connection_id:int}/sync", guards=[requires_collector])
    async def sync_now(
        self, request: Request, db_session: DbSession, connection_id: FromPath[int]
    ) -> Template | Redirect:
        connection = await get_owned(
            db_session, Connection, connection_id, request.user.organisation_id
        )
        try:
            await sync_soon(request, connection)
        except ChaseEngineDown as down:
            refusal = SYNC_ENGINE_DOWN.format(reason=down)
            if request.htmx:
                # htmx swaps 2xx and 422 only (base.html): the refusal must still reach the
                # place where the sync's progress shows.
                return Template(
                    template_str=SYNC_REFUSED, context={"refusal": refusal}, status_code=200
                )
            return _problem("Sync not requested", refusal, status_code=503)
        if request.htmx:
            return Template(
                "connections/progress.html",
                context={"connection": connection, "run": None, "requested": True},
            )
        return Redirect("/connections")

    @get("/{connection_id:int}/progress")
    async def progress(
        self, request: Request, db_session: DbSession, connection_id: FromPath[int]
    ) -> Template:
        connection = await get_owned(
            db_session, Connection, connection_id, request.user.organisation_id
        )
        run = await latest_run(db_session, connection.id)
        return Template(
            "connections/progress.html",
            context={"connection": connection, "run": run, "requested": False},
        )


def _accountsiq_form(
    request: Request, values: dict[str, str], refusal: str, status_code: int = 200
) -> Template:
    """The User Key is never sent back to the browser: after a refusal it is pasted again."""
    return Template(
        "connections/accountsiq.html",
        context={
            "values": {**values, "user_key": ""},
            "locations": ACCOUNTSIQ_LOCATIONS,
            "refusal": refusal,
        },
        status_code=status_code,
    )


def _problem(title: str, detail: str, status_code: int = 400) -> Template:
    return Template(
        "connections/problem.html",
        context={"title": title, "detail": detail},
        status_code=status_code,
    )


async def _finish(request: Request, grant: Grant, tenant_id: str) -> Redirect:
    state = request.app.state
    connection = await connect_xero_tenant(
        state.db, state.ledgers, request.user.organisation_id, grant, tenant_id
    )
    return await _after_connecting(request, connection)


async def _after_connecting(request: Request, connection: Connection) -> Redirect:
    """Start the first sync, then send the user to confirm their settings while it runs."""
    state = request.app.state
    try:
        await sync_soon(request, connection)
        sync_problem = ""
    except ChaseEngineDown as down:
        # Connected all the same: the grant is kept, and "Sync now" asks again later.
        sync_problem = FIRST_SYNC_WAITS.format(reason=down)
    async with state.db.session() as session:  # a reconnect may unblock waiting payments
        await retry_waiting_payments(state, session, connection.organisation_id)
    profile = await ledger_profile(state.ledgers, connection)
    request.session[PROFILE_KEY] = {
        "connection_id": connection.id,
        "tenant_name": connection.tenant_name,
        "provider": connection.provider,
        "sync_problem": sync_problem,
        **(asdict(profile) if profile else {}),
    }
    return Redirect("/settings/organisation?connected=1")
