"""The QuickBooks sandbox's routes, all under /quickbooks:

- /quickbooks/.well-known/openid_configuration, /connect/oauth2, /oauth2/v1/tokens/bearer,
  /v2/oauth2/tokens/revoke: Intuit's OAuth service (see oauth.py)
- /quickbooks/v3/company/{realmId}/...: the Accounting API, behind the gateway (token, realm,
  minorversion, throttles, faults); a route it does not emulate answers Unsupported Operation
- /quickbooks/_admin/...: the sandbox's own admin API
"""

from __future__ import annotations

from litestar import Router

from duely.sandbox.quickbooks.admin import QuickBooksAdmin
from duely.sandbox.quickbooks.api import API_HANDLERS, COMPANY, fault_handler, not_emulated
from duely.sandbox.quickbooks.errors import QBFault
from duely.sandbox.quickbooks.gateway import api_gateway, oauth_gateway
from duely.sandbox.quickbooks.oauth import OAUTH_HANDLERS
from duely.sandbox.routing import register_fallbacks

QUICKBOOKS_PREFIX = "/quickbooks"


def create_quickbooks_router() -> Router:
    oauth = Router("/", route_handlers=OAUTH_HANDLERS, middleware=[oauth_gateway])
    api = Router(
        "/",
        route_handlers=API_HANDLERS,
        middleware=[api_gateway],
        exception_handlers={QBFault: fault_handler},
    )
    register_fallbacks(api, COMPANY, not_emulated, 400)
    return Router(QUICKBOOKS_PREFIX, route_handlers=[oauth, api, QuickBooksAdmin])
