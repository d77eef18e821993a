"""The Litestar application: pages, JSON API, webhooks, static files, security middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Logger, Scope
from sqlalchemy.exc import DataError

import duely
from duely.core.db import Database
from duely.core.security import derive_key
from duely.core.temporal.client import TemporalConnection
from duely.integrations.ledgers.connections import Ledgers
from duely.models.ledger import PROVIDER_LABELS
from duely.settings import Settings
from duely.web.api import api_router
from duely.web.api.integration_health import IntegrationHealthController
from duely.web.api.paging import number_out_of_range, provide_page_request
from duely.web.api.payments import PaymentController
from duely.web.auth import API_PREFIX, AuthMiddleware
from duely.web.chase import CONNECT_SECONDS, ChaseEngineDown
from duely.web.codec import CODEC_PATH, codec_router
from duely.web.deps import provide_db_session
from duely.web.pages.account import AccountController
from duely.web.pages.chase import ChaseController, customer_chasing
from duely.web.pages.connections import ConnectionsController
from duely.web.pages.health import healthz
from duely.web.pages.home import home
from duely.web.pages.imports import ImportsController
from duely.web.pages.integrations import IntegrationsController
from duely.web.pages.opt_outs import clear_customer_opt_out
from duely.web.pages.outbox import OutboxController
from duely.web.pages.payments import PaymentsController
from duely.web.pages.portal import PORTAL_RATE_LIMIT, PortalController
from duely.web.pages.receivables import CustomerPagesController, InvoicePagesController
from duely.web.pages.schedules import SchedulesController, customer_schedule
from duely.web.pages.settings import OrganisationSettingsController
from duely.web.pages.templates_editor import TemplatesController
from duely.web.pages.unsubscribe import unsubscribe, unsubscribe_page
from duely.web.security_headers import SecurityHeaders
from duely.web.sessions import DatabaseSessionConfig
from duely.web.webhooks.after_answers import AfterAnswers
from duely.web.webhooks.quickbooks import quickbooks_webhook
from duely.web.webhooks.sms import sms_webhook
from duely.web.webhooks.stripe import stripe_webhook
from duely.web.webhooks.xero import xero_webhook

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(duely.__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "web" / "static"

# Paths reachable without signing in. Handlers can also opt out with opt={"exclude_from_auth"}.
PUBLIC_PATHS = ["^/static/", "^/schema", "^/webhooks/", "^/pay/", "^/unsubscribe/"]
# Webhooks are verified by their signatures; the API authenticates by bearer token only.
# Unsubscribe links carry their own signed token, and mail clients POST to them (RFC 8058).
# The Temporal UI posts JSON to the codec cross-origin, without a token (see duely.web.codec).
CSRF_EXEMPT_PATHS = [f"^{API_PREFIX}", "^/webhooks/", "^/unsubscribe/", f"^{CODEC_PATH}/"]
# Password guessing is slowed per client address on the two endpoints that take a password.
PASSWORD_ENDPOINTS = {"/login", "/api/v1/auth/token", "/account/password"}
PASSWORD_ATTEMPTS_PER_MINUTE = 20
ANSWERED_REFUSALS = {400, 401, 404, 405, 413, 415, 422, 429, 503}
"""Answered on purpose, logged without a traceback. 403 keeps its line: a refused CSRF token or
role is worth seeing."""
# Customer links carry their credential in the path: logs show the path without it.
TOKEN_IN_PATH = re.compile(r"^/(pay|unsubscribe)/[^/?]+")


# Payments and integration health, under the same /api/v1 prefix and paging as api_router.
payments_api_router = Router(
    path="/api/v1",
    route_handlers=[PaymentController, IntegrationHealthController],
    dependencies={"paging": Provide(provide_page_request, sync_to_thread=False)},
)


async def _is_password_attempt(request: Request) -> bool:
    # async: Litestar runs a plain function given here in a thread, for every request
    return request.method == "POST" and request.url.path in PASSWORD_ENDPOINTS


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _log_exception(logger: Logger, scope: Scope, traceback: list[str]) -> None:
    """Litestar's exception log line, with any customer link's token left out."""
    path = TOKEN_IN_PATH.sub(r"/\1/<token>", scope["path"])
    logger.exception("Uncaught exception (connection_type=%s, path=%r):", scope["type"], path)


class _HideLinkTokens(logging.Filter):
    """uvicorn's access log names each request's path: leave customer links' tokens out."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            record.args = (*args[:2], TOKEN_IN_PATH.sub(r"/\1/<token>", args[2]), *args[3:])
        return True


HIDE_LINK_TOKENS = _HideLinkTokens()


def _page_errors(request: Request, error: HTTPException) -> Response:
    """Pages answer errors with HTML (and send strangers to sign in); the API keeps JSON."""
    if _is_api(request):
        body = {"status_code": error.status_code, "detail": error.detail}
        if error.extra:
            body["extra"] = error.extra
        return Response(body, status_code=error.status_code, headers=error.headers)
    if isinstance(error, NotAuthorizedException):
        if isinstance(request, HTMXRequest) and request.htmx:
            return Response("", status_code=401, headers={"HX-Redirect": "/login"})
        return Redirect(f"/login?next={request.url.path}")
    return Template(
        "error.html",
        context={"status_code": error.status_code, "detail": error.detail},
        status_code=error.status_code,
    )


def _number_out_of_range(request: Request, error: OverflowError | DataError) -> Response:
    return _page_errors(request, number_out_of_range(request, error))


def _chase_engine_down(request: Request, down: ChaseEngineDown) -> Response:
    """What a handler left uncaught: 503, for pages (HTML) and the API (JSON) alike."""
    message = f"The chase engine (Temporal) could not be reached: {down}. Try again in a moment."
    return _page_errors(request, ServiceUnavailableException(message))


def _add_filters(engine: JinjaTemplateEngine) -> None:
    # {{ connection.provider | ledger_name }}: "QuickBooks", not "Quickbooks" (and "Stripe" for
    # a webhook's sender that is no ledger).
    engine.engine.filters["ledger_name"] = lambda name: PROVIDER_LABELS.get(name, name.title())


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    settings.refuse_demo_secrets()
    secret = settings.resolved_secret_key
    logging.getLogger("uvicorn.access").addFilter(HIDE_LINK_TOKENS)  # once: same filter object

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database(settings.resolved_database_url)
        app.state.ledgers = Ledgers(settings, app.state.db)
        app.state.temporal = TemporalConnection(settings)
        app.state.after_answers = AfterAnswers()
        try:
            # Bounded: a Temporal that takes the connection and never answers must not keep
            # the pages from coming up either.
            async with asyncio.timeout(CONNECT_SECONDS):
                await app.state.temporal()
        except Exception as error:  # noqa: BLE001 - pages must come up without Temporal
            log.warning(
                "Temporal at %s unreachable at start-up: %s", settings.temporal_address, error
            )
        try:
            yield
        finally:
            await app.state.ledgers.aclose()
            await app.state.db.dispose()

    # Sessions live in the database (the cookie holds only an id), so signing out ends them.
    session_config = DatabaseSessionConfig(
        key="duely_session",
        max_age=settings.session_max_age_seconds,
        secure=settings.cookie_secure,
        samesite="lax",
        exclude=[f"^{API_PREFIX}", "^/static/"],
    )
    return Litestar(
        route_handlers=[
            AccountController,
            home,
            healthz,
            OrganisationSettingsController,
            ConnectionsController,
            ImportsController,
            xero_webhook,
            quickbooks_webhook,
            sms_webhook,
            stripe_webhook,
            InvoicePagesController,
            CustomerPagesController,
            SchedulesController,
            TemplatesController,
            customer_schedule,
            ChaseController,
            customer_chasing,
            clear_customer_opt_out,
            OutboxController,
            PaymentsController,
            IntegrationsController,
            unsubscribe_page,
            unsubscribe,
            PortalController,
            api_router,
            payments_api_router,
            codec_router,
            create_static_files_router(path="/static", directories=[STATIC_DIR]),
        ],
        lifespan=[lifespan],
        # CSP and the other security headers, on every response (404s and redirects too).
        before_send=[SecurityHeaders(settings)],
        plugins=[HTMXPlugin()],
        request_class=HTMXRequest,
        middleware=[
            RateLimitConfig(
                rate_limit=("minute", PASSWORD_ATTEMPTS_PER_MINUTE),
                check_throttle_handler=_is_password_attempt,
            ).middleware,
            PORTAL_RATE_LIMIT.middleware,
            session_config.middleware,
            DefineMiddleware(AuthMiddleware, exclude=PUBLIC_PATHS),
        ],
        csrf_config=CSRFConfig(
            secret=derive_key(secret, "csrf").hex(),
            cookie_name="duely_csrf",
            cookie_secure=settings.cookie_secure,
            exclude=CSRF_EXEMPT_PATHS,
        ),
        dependencies={"db_session": Provide(provide_db_session)},
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_add_filters
        ),
        exception_handlers={
            NotAuthorizedException: _page_errors,
            PermissionDeniedException: _page_errors,
            NotFoundException: _page_errors,
            OverflowError: _number_out_of_range,  # a number too large for the database
            DataError: _number_out_of_range,
            ChaseEngineDown: _chase_engine_down,
        },
        # An unexpected error must leave a traceback in the log, not just a 500 for the user.
        logging_config=LoggingConfig(
            log_exceptions="always",
            exception_logging_handler=_log_exception,
            # A refusal the app meant (a 404, a bad field, a page that needs signing in) is
            # answered, not an error: no traceback for those, so real ones stand out.
            disable_stack_trace=ANSWERED_REFUSALS,
        ),
        openapi_config=OpenAPIConfig(
            title="duely",
            version=duely.__version__,
            path="/schema",
            # The schema itself, as JSON: Litestar's default page loads a viewer from a CDN,
            # which the CSP refuses (and which no duely page should depend on).
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="POST /api/v1/auth/token"
                    )
                }
            ),
            security=[{"bearer": []}],
        ),
    )
