"""XeroSandbox: the whole emulated Xero (state, clock, configuration) in one object.

The server keeps it on `app.state.xero`; tests can hold it directly to arrange data, move the
clock or read what a client did, through the same methods the HTTP API uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from duely.sandbox.clock import SandboxClock
from duely.sandbox.faults import Faults
from duely.sandbox.idempotency import IdempotencyKeys
from duely.sandbox.ledger_sandbox import DEMO_WEB_URL as DEMO_WEB_URL  # tests import it here
from duely.sandbox.ledger_sandbox import LedgerSandbox
from duely.sandbox.xero.identity import App, Identity, IdentityState, TokenResponse
from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.ratelimit import RateLimiter, RateLimits
from duely.sandbox.xero.seed import seed_ledger
from duely.sandbox.xero.store import XeroStore
from duely.sandbox.xero.webhooks import Webhooks, WebhookSettings

DEFAULT_PORT = 8100


def base_url_for_port(port: int) -> str:
    """Where clients reach a sandbox served on 127.0.0.1:`port` (`duely sandbox` and `duely
    up` serve on the sandbox_port setting): webhook resource URLs name it."""
    return f"http://127.0.0.1:{port}/xero"


DEFAULT_BASE_URL = base_url_for_port(DEFAULT_PORT)
DEFAULT_SCOPE = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings accounting.reports.read"
)
DEMO_CLIENT_ID = "duely-demo"
DEMO_CLIENT_SECRET = "duely-demo-secret"  # noqa: S105 - a published demo credential
DEMO_WEBHOOK_KEY = "duely-demo-webhook-key"
DEMO_TENANT_NAME = "Demo Trading Ltd (Xero)"
DEMO_INVOICES = 300
DEMO_SEED = 2024
SNAPSHOT_VERSION = 1


@dataclass
class Snapshot:
    """Everything that must survive a restart of the demo."""

    version: int
    clock_offset: float
    identity: IdentityState
    ledgers: list[Ledger]
    webhook_sequences: dict[str, int] = field(default_factory=dict)


class XeroSandbox(LedgerSandbox[Snapshot]):
    SERVICE = "Xero"
    SNAPSHOT_TYPE = Snapshot
    SNAPSHOT_VERSION = SNAPSHOT_VERSION

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        clock: SandboxClock | None = None,
        limits: RateLimits | None = None,
        webhook_settings: WebhookSettings | None = None,
        idempotency_retention: timedelta = timedelta(minutes=10),
        snapshot_path: Path | None = None,
        fault_seed: int | None = None,
    ) -> None:
        """`base_url` is where clients reach this sandbox (it appears in webhook resource
        URLs); `snapshot_path`, when set, is loaded at start-up if it exists and saved at
        shutdown."""
        self.base_url = base_url.rstrip("/")
        self.clock = clock or SandboxClock()
        self.store = XeroStore(self.clock)
        self.identity = Identity(self.clock)
        self.limiter = RateLimiter(limits)
        self.faults = Faults(fault_seed)
        self.idempotency = IdempotencyKeys(self.clock, idempotency_retention)
        self.webhooks = Webhooks(self.identity, self.clock, self.base_url, webhook_settings)
        self.store.listeners.append(self.webhooks.on_change)
        self.snapshot_path = snapshot_path
        self.random = random.Random(0)  # noqa: S311 - a simulation, not a secret

    # --- arranging -----------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        name: str,
        redirect_uris: list[str],
        webhook_url: str = "",
        webhook_key: str = "",
    ) -> App:
        return self.identity.register_app(
            App(client_id, client_secret, name, list(redirect_uris), webhook_url, webhook_key)
        )

    def add_tenant(
        self,
        name: str | None = None,
        invoices: int = 300,
        *,
        seed: int = 0,
        country: str = "GB",
        customers: int | None = None,
    ) -> Ledger:
        """A new organisation seeded deterministically (see seed.py)."""
        ledger = seed_ledger(
            seed, invoices, now=self.clock.now(), customers=customers, name=name, country=country
        )
        if ledger.tenant_id in self.store.ledgers:
            raise ValueError(f"seed {seed} already made tenant {ledger.tenant_id}")
        return self.store.add_ledger(ledger)

    def connect(
        self, client_id: str, tenant_ids: list[str], scope: str = DEFAULT_SCOPE
    ) -> TokenResponse:
        """Consent and code exchange in one step, for tests that are not about OAuth."""
        return self._consent_and_exchange(client_id, scope=scope, tenant_ids=tenant_ids)

    # --- the demo ------------------------------------------------------------------------

    def _seed_demo(self) -> None:
        """One demo organisation, with about 300 invoices."""
        self.add_tenant(DEMO_TENANT_NAME, DEMO_INVOICES, seed=DEMO_SEED)

    def _register_demo_app(self, web_url: str) -> None:
        """The demo app: `duely-demo` / `duely-demo-secret`."""
        self.register_app(
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            "duely (demo)",
            [f"{web_url}/connections/xero/callback"],
            webhook_url=f"{web_url}/webhooks/xero",
            webhook_key=DEMO_WEBHOOK_KEY,
        )

    # --- snapshots -----------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        return Snapshot(
            version=SNAPSHOT_VERSION,
            clock_offset=self.clock.offset_seconds,
            identity=self.identity.state,
            ledgers=list(self.store.ledgers.values()),
            webhook_sequences=dict(self.webhooks.sequences),
        )

    def _restore(self, snapshot: Snapshot) -> None:
        self.store.ledgers = {ledger.tenant_id: ledger for ledger in snapshot.ledgers}
        self.webhooks.sequences = dict(snapshot.webhook_sequences)
