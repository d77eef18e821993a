"""The sandbox server: every ledger emulator under its own prefix on one Litestar app.

`duely sandbox` and `duely up` serve `create_sandbox_app(XeroSandbox.with_demo(...))` with
uvicorn on 127.0.0.1:8100. Tests pass their own XeroSandbox and keep a handle on it; the app
keeps it on `app.state.xero`. The Twilio emulator (`/twilio`, on `app.state.twilio`) is the
capture sink of the stack's text messages. The Stripe Connect OAuth emulator
(`/stripe-connect`, on `app.state.stripe_connect`) stands in for connect.stripe.com. The
QuickBooks Online emulator (`/quickbooks`, on `app.state.quickbooks`) is empty unless given one;
so is the AccountsIQ emulator (`/accountsiq`, on `app.state.accountsiq`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar

from duely.sandbox.accountsiq.routes import create_accountsiq_router
from duely.sandbox.accountsiq.sandbox import AccountsIQSandbox
from duely.sandbox.quickbooks.routes import create_quickbooks_router
from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox
from duely.sandbox.stripe_connect.routes import create_stripe_connect_router
from duely.sandbox.stripe_connect.sandbox import StripeConnectSandbox
from duely.sandbox.twilio.routes import create_twilio_router
from duely.sandbox.twilio.sandbox import TwilioSandbox
from duely.sandbox.xero.routes import create_xero_router
from duely.sandbox.xero.sandbox import XeroSandbox


def create_sandbox_app(
    xero: XeroSandbox | None = None,
    twilio: TwilioSandbox | None = None,
    stripe_connect: StripeConnectSandbox | None = None,
    quickbooks: QuickBooksSandbox | None = None,
    accountsiq: AccountsIQSandbox | None = None,
) -> Litestar:
    """The sandbox app; with no XeroSandbox given, an empty one (no apps, no tenants); with no
    TwilioSandbox, one with the demo account that duely's default settings use."""
    xero = xero or XeroSandbox()
    twilio = twilio or TwilioSandbox()
    quickbooks = quickbooks or QuickBooksSandbox()
    accountsiq = accountsiq or AccountsIQSandbox()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await xero.start()
        await twilio.start()
        await quickbooks.start()
        await accountsiq.start()
        try:
            yield
        finally:
            await accountsiq.stop()
            await quickbooks.stop()
            await twilio.stop()
            await xero.stop()

    app = Litestar(
        route_handlers=[
            create_xero_router(),
            create_twilio_router(),
            create_stripe_connect_router(),
            create_quickbooks_router(),
            create_accountsiq_router(),
        ],
        lifespan=[lifespan],
        openapi_config=None,
    )
    app.state.xero = xero
    app.state.twilio = twilio
    app.state.stripe_connect = stripe_connect or StripeConnectSandbox()
    app.state.quickbooks = quickbooks
    app.state.accountsiq = accountsiq
    return app
