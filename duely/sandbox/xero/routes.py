"""The Xero sandbox's routes, all under /xero:

- /xero/identity/connect/{authorize,token,revocation}: Xero's login and identity services
- /xero/connections and /xero/api.xro/2.0/...: Xero's API host, behind the gateway (tokens,
  tenants, rate limits, faults)
- /xero/_admin/...: the sandbox's own admin API
"""

from __future__ import annotations

from litestar import Router

from duely.sandbox.xero.accounting import ACCOUNTING_READ_HANDLERS
from duely.sandbox.xero.admin import XeroAdmin
from duely.sandbox.xero.admin_records import XeroRecordsAdmin
from duely.sandbox.xero.connections import CONNECTION_HANDLERS
from duely.sandbox.xero.credits import CREDIT_HANDLERS
from duely.sandbox.xero.gateway import api_gateway, identity_gateway, register_not_emulated
from duely.sandbox.xero.history import HISTORY_HANDLERS
from duely.sandbox.xero.invoices import INVOICE_HANDLERS
from duely.sandbox.xero.lists import LIST_HANDLERS
from duely.sandbox.xero.oauth import IDENTITY_HANDLERS
from duely.sandbox.xero.online import ONLINE_INVOICE_HANDLERS, ONLINE_INVOICE_PAGES
from duely.sandbox.xero.payments import PAYMENT_HANDLERS
from duely.sandbox.xero.reports import REPORT_HANDLERS

XERO_PREFIX = "/xero"


def create_xero_router() -> Router:
    identity = Router("/identity", route_handlers=IDENTITY_HANDLERS, middleware=[identity_gateway])
    api = Router(
        "/",
        route_handlers=[
            *CONNECTION_HANDLERS,
            *ACCOUNTING_READ_HANDLERS,
            *INVOICE_HANDLERS,
            *PAYMENT_HANDLERS,
            *CREDIT_HANDLERS,
            *HISTORY_HANDLERS,
            *ONLINE_INVOICE_HANDLERS,
            *LIST_HANDLERS,
            *REPORT_HANDLERS,
        ],
        middleware=[api_gateway],
    )
    register_not_emulated(api)
    return Router(
        XERO_PREFIX,
        route_handlers=[identity, api, XeroAdmin, XeroRecordsAdmin, *ONLINE_INVOICE_PAGES],
    )
