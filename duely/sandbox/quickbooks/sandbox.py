"""QuickBooksSandbox: the whole emulated QuickBooks Online (state, clock, configuration).

The server keeps it on `app.state.quickbooks`; tests can hold it directly to arrange data, move
the clock or read what a client did, through the same methods the HTTP API uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from duely.sandbox.clock import SandboxClock
from duely.sandbox.faults import Faults
from duely.sandbox.idempotency import IdempotencyKeys
from duely.sandbox.ledger_sandbox import LedgerSandbox
from duely.sandbox.quickbooks.company import Company
from duely.sandbox.quickbooks.identity import (
    ACCOUNTING_SCOPE,
    App,
    Identity,
    IdentityState,
    TokenResponse,
)
from duely.sandbox.quickbooks.ratelimit import RateLimiter, RateLimits
from duely.sandbox.quickbooks.seed import seed_company
from duely.sandbox.quickbooks.store import QuickBooksStore
from duely.sandbox.quickbooks.webhooks import Webhooks, WebhookSettings

DEMO_CLIENT_ID = "duely-demo-quickbooks"
DEMO_CLIENT_SECRET = "duely-demo-quickbooks-secret"  # noqa: S105 - a published demo credential
DEMO_VERIFIER_TOKEN = "duely-demo-verifier-token"  # noqa: S105 - a published demo credential
DEMO_COMPANY_NAME = "Demo Trading Ltd (QuickBooks)"
DEMO_INVOICES = 300
DEMO_SEED = 2025
SNAPSHOT_VERSION = 1


@dataclass
class Snapshot:
    """Everything that must survive a restart of the demo."""

    version: int
    clock_offset: float
    identity: IdentityState
    companies: list[Company]


class QuickBooksSandbox(LedgerSandbox[Snapshot]):
    SERVICE = "QuickBooks"
    SNAPSHOT_TYPE = Snapshot
    SNAPSHOT_VERSION = SNAPSHOT_VERSION

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        limits: RateLimits | None = None,
        webhook_settings: WebhookSettings | None = None,
        request_id_retention: timedelta = timedelta(days=1),
        snapshot_path: Path | None = None,
        fault_seed: int | None = None,
    ) -> None:
        """`snapshot_path`, when set, is loaded at start-up (by `with_demo`) if it exists and
        saved at shutdown."""
        self.clock = clock or SandboxClock()
        self.store = QuickBooksStore(self.clock)
        self.identity = Identity(self.clock)
        self.limiter = RateLimiter(limits)
        self.faults = Faults(fault_seed)
        self.idempotency = IdempotencyKeys(self.clock, request_id_retention)
        self.webhooks = Webhooks(self.identity, self.clock, webhook_settings)
        self.store.listeners.append(self.webhooks.on_change)
        self.snapshot_path = snapshot_path

    # --- arranging -----------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        name: str,
        redirect_uris: list[str],
        webhook_url: str = "",
        verifier_token: str = "",
        webhook_format: str = "legacy",
    ) -> App:
        app = App(
            client_id,
            client_secret,
            name,
            list(redirect_uris),
            webhook_url,
            verifier_token,
            webhook_format,
        )
        return self.identity.register_app(app)

    def add_company(
        self,
        name: str | None = None,
        invoices: int = 300,
        *,
        seed: int = 0,
        country: str = "GB",
        customers: int | None = None,
    ) -> Company:
        """A new company seeded deterministically (see seed.py)."""
        company = seed_company(
            seed, invoices, now=self.clock.now(), name=name, country=country, customers=customers
        )
        if company.realm_id in self.store.companies:
            raise ValueError(f"seed {seed} already made realm {company.realm_id}")
        return self.store.add_company(company)

    def connect(
        self, client_id: str, realm_id: str, scope: str = ACCOUNTING_SCOPE
    ) -> TokenResponse:
        """Consent and code exchange in one step, for tests that are not about OAuth."""
        return self._consent_and_exchange(client_id, scope=scope, realm_id=realm_id)

    # --- the demo ------------------------------------------------------------------------

    def _seed_demo(self) -> None:
        """The demo company, with about 300 invoices."""
        self.add_company(DEMO_COMPANY_NAME, DEMO_INVOICES, seed=DEMO_SEED)

    def _register_demo_app(self, web_url: str) -> None:
        """The demo app: `duely-demo-quickbooks` / `duely-demo-quickbooks-secret`, verifier
        token `duely-demo-verifier-token`."""
        self.register_app(
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            "duely (demo)",
            [f"{web_url}/connections/quickbooks/callback"],
            webhook_url=f"{web_url}/webhooks/quickbooks",
            verifier_token=DEMO_VERIFIER_TOKEN,
        )

    # --- snapshots -----------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        return Snapshot(
            version=SNAPSHOT_VERSION,
            clock_offset=self.clock.offset_seconds,
            identity=self.identity.state,
            companies=list(self.store.companies.values()),
        )

    def _restore(self, snapshot: Snapshot) -> None:
        self.store.companies = {company.realm_id: company for company in snapshot.companies}
