"""QuickBooksSandbox: the whole emulated QuickBooks Online (state, clock, configuration).

The server keeps it on `app.state.quickbooks`; tests can hold it directly to arrange data, move
the clock or read what a client did, through the same methods the HTTP API uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec

from duely.sandbox.clock import SandboxClock
from duely.sandbox.faults import Faults
from duely.sandbox.idempotency import IdempotencyKeys
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

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "duely-demo-quickbooks"
DEMO_CLIENT_SECRET = "duely-demo-quickbooks-secret"  # noqa: S105 - a published demo credential
DEMO_VERIFIER_TOKEN = "duely-demo-verifier-token"  # noqa: S105 - a published demo credential
DEMO_WEB_URL = "http://127.0.0.1:8000"
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


class QuickBooksSandbox:
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
        app = self.identity.app(client_id)
        if app is None:
            raise LookupError(client_id)
        redirect_uri = app.redirect_uris[0] if app.redirect_uris else ""
        code = self.identity.authorise(client_id, redirect_uri, scope, realm_id)
        return self.identity.exchange_code(app, code, redirect_uri, None)

    @classmethod
    def with_demo(
        cls, *, snapshot_path: Path | None = None, web_url: str = DEMO_WEB_URL, **options
    ) -> QuickBooksSandbox:
        """The sandbox `duely sandbox` serves: the demo app (`duely-demo-quickbooks` /
        `duely-demo-quickbooks-secret`, verifier token `duely-demo-verifier-token`,
        redirecting to and sending webhooks to the web app at `web_url`) and the demo company
        with about 300 invoices. A saved snapshot, when there is one, is used instead of
        seeding, so the demo's connection survives restarts."""
        sandbox = cls(snapshot_path=snapshot_path, **options)
        if snapshot_path is not None and snapshot_path.exists():
            sandbox.load_snapshot(snapshot_path)
        else:
            sandbox.add_company(DEMO_COMPANY_NAME, DEMO_INVOICES, seed=DEMO_SEED)
        # Registered afresh each start, so the demo follows the web app to another port.
        sandbox.register_app(
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            "duely (demo)",
            [f"{web_url}/connections/quickbooks/callback"],
            webhook_url=f"{web_url}/webhooks/quickbooks",
            verifier_token=DEMO_VERIFIER_TOKEN,
        )
        return sandbox

    # --- snapshots -----------------------------------------------------------------------

    def save_snapshot(self, path: Path) -> Path:
        snapshot = Snapshot(
            version=SNAPSHOT_VERSION,
            clock_offset=self.clock.offset_seconds,
            identity=self.identity.state,
            companies=list(self.store.companies.values()),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_bytes(msgspec.json.encode(snapshot))
        temporary.replace(path)
        return path

    def load_snapshot(self, path: Path) -> None:
        snapshot = msgspec.json.decode(path.read_bytes(), type=Snapshot)
        if snapshot.version != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {snapshot.version} is not {SNAPSHOT_VERSION}")
        self.clock.offset_seconds = snapshot.clock_offset
        self.identity.state = snapshot.identity
        self.store.companies = {company.realm_id: company for company in snapshot.companies}

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.webhooks.flush_pending()

    async def stop(self) -> None:
        await self.webhooks.close()
        if self.snapshot_path is not None:
            self.save_snapshot(self.snapshot_path)
            log.info("QuickBooks sandbox saved to %s", self.snapshot_path)
