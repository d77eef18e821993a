"""The JSON API under /api/v1 (DESIGN section 5), documented at /schema."""

from litestar import Router
from litestar.di import Provide

from duely.web.api.auth import AuthTokenController
from duely.web.api.chase import (
    ChaseActionController,
    CustomerChasingController,
    OutboxApiController,
)
from duely.web.api.connections import ConnectionApiController
from duely.web.api.organisation import OrganisationController
from duely.web.api.paging import provide_page_request
from duely.web.api.receivables import CustomerController, InvoiceController

api_router = Router(
    path="/api/v1",
    route_handlers=[
        AuthTokenController,
        OrganisationController,
        CustomerController,
        InvoiceController,
        ConnectionApiController,
        ChaseActionController,
        CustomerChasingController,
        OutboxApiController,
    ],
    dependencies={"paging": Provide(provide_page_request, sync_to_thread=False)},
)
