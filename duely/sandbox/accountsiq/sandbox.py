"""AccountsIQSandbox: the whole emulated AccountsIQ (companies, sessions, clock, faults).

The server keeps it on `app.state.accountsiq`; tests can hold it directly to arrange data,
move the clock or read what a client did, through the same store the SOAP service uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import msgspec

from duely.sandbox.accountsiq.company import REGIONS, Company
from duely.sandbox.accountsiq.seed import seed_company
from duely.sandbox.accountsiq.store import AccountsIQStore
from duely.sandbox.clock import SandboxClock
from duely.sandbox.faults import Faults

log = logging.getLogger(__name__)

DEMO_COMPANY_ID = "duelydemo"
DEMO_COMPANY_NAME = "Demo Trading Ltd (AccountsIQ)"
DEMO_PARTNER_KEY = "duely-demo-accountsiq-partner-key"  # a published demo credential
DEMO_USER_KEY = "duely-demo-accountsiq-user-key"  # a published demo credential
DEMO_REGION = "eu1"
DEMO_INVOICES = 300
DEMO_SEED = 2025
SNAPSHOT_VERSION = 1


@dataclass
class Snapshot:
    """Everything that must survive a restart (sessions do not: log in again)."""

    version: int
    clock_offset: float
    partner_keys: list[str]
    companies: list[Company]


class AccountsIQSandbox:
    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        snapshot_path: Path | None = None,
        fault_seed: int | None = None,
    ) -> None:
        """`snapshot_path`, when set, is loaded at start-up (by `with_demo`) if it exists and
        saved at shutdown."""
        self.clock = clock or SandboxClock()
        self.store = AccountsIQStore(self.clock)
        self.faults = Faults(fault_seed)
        self.snapshot_path = snapshot_path

    # --- arranging -----------------------------------------------------------------------

    def add_partner_key(self, key: str) -> None:
        self.store.partner_keys.add(key)

    def add_company(
        self,
        name: str | None = None,
        invoices: int = 300,
        *,
        seed: int = 0,
        region: str = "eu1",
        company_id: str | None = None,
        user_key: str | None = None,
        customers: int | None = None,
    ) -> Company:
        """A new company seeded deterministically (see seed.py), in one region."""
        if region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}")
        company = seed_company(
            seed,
            invoices,
            now=self.clock.now(),
            name=name,
            region=region,
            company_id=company_id,
            user_key=user_key,
            customers=customers,
        )
        return self.store.add_company(company)

    @classmethod
    def with_demo(cls, *, snapshot_path: Path | None = None, **options) -> AccountsIQSandbox:
        """The sandbox `duely sandbox` serves: the demo company `duelydemo` in eu1 (about 300
        invoices), opened with partner key `duely-demo-accountsiq-partner-key` and user key
        `duely-demo-accountsiq-user-key`. A saved snapshot, when there is one, is used
        instead of seeding."""
        sandbox = cls(snapshot_path=snapshot_path, **options)
        if snapshot_path is not None and snapshot_path.exists():
            sandbox.load_snapshot(snapshot_path)
        else:
            sandbox.add_company(
                DEMO_COMPANY_NAME,
                DEMO_INVOICES,
                seed=DEMO_SEED,
                region=DEMO_REGION,
                company_id=DEMO_COMPANY_ID,
                user_key=DEMO_USER_KEY,
            )
        sandbox.add_partner_key(DEMO_PARTNER_KEY)
        return sandbox

    # --- snapshots -----------------------------------------------------------------------

    def save_snapshot(self, path: Path) -> Path:
        snapshot = Snapshot(
            version=SNAPSHOT_VERSION,
            clock_offset=self.clock.offset_seconds,
            partner_keys=sorted(self.store.partner_keys),
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
        self.store.partner_keys = set(snapshot.partner_keys)
        self.store.companies = {c.company_id: c for c in snapshot.companies}
        self.store.sessions = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self.snapshot_path is not None:
            self.save_snapshot(self.snapshot_path)
            log.info("AccountsIQ sandbox saved to %s", self.snapshot_path)
