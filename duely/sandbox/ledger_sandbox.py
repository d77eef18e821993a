"""What the ledger sandboxes' top objects (XeroSandbox, QuickBooksSandbox) share: snapshots
that carry the demo across restarts, the demo set-up, and start/stop.

A snapshot is the service's own msgspec-encodable dataclass with at least `version`,
`clock_offset` and `identity`; it is written to a temporary file and renamed into place, so a
crash mid-save never leaves half a snapshot where the next start would read it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

import msgspec

from duely.sandbox.clock import SandboxClock

DEMO_WEB_URL = "http://127.0.0.1:8000"


class Snapshot(Protocol):
    version: int
    clock_offset: float

    @property
    def identity(self) -> Any: ...


SnapshotT = TypeVar("SnapshotT", bound=Snapshot)


def write_snapshot(path: Path, snapshot: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(msgspec.json.encode(snapshot))
    temporary.replace(path)
    return path


def read_snapshot(path: Path, kind: type[SnapshotT], version: int) -> SnapshotT:
    """The snapshot at `path`; ValueError when it was written in another version."""
    snapshot = msgspec.json.decode(path.read_bytes(), type=kind)
    if snapshot.version != version:
        raise ValueError(f"snapshot version {snapshot.version} is not {version}")
    return snapshot


class Delivering(Protocol):
    def flush_pending(self) -> None: ...
    async def close(self) -> None: ...


class LedgerSandbox(Generic[SnapshotT]):
    """The subclass sets `clock`, `identity`, `webhooks` and `snapshot_path` in its __init__
    (taking `snapshot_path` as a keyword), and says what its snapshot holds beyond the clock
    and the identity state (`_snapshot`, `_restore`) and what the demo is (`_seed_demo`,
    `_register_demo_app`)."""

    SERVICE = ""
    SNAPSHOT_TYPE: type[SnapshotT]
    SNAPSHOT_VERSION = 1

    clock: SandboxClock
    identity: Any
    webhooks: Delivering
    snapshot_path: Path | None

    # --- arranging -----------------------------------------------------------------------

    def _consent_and_exchange(self, client_id: str, **consent: Any) -> Any:
        """Consent and code exchange in one step, for tests that are not about OAuth:
        `consent` is what the service's consent page would have chosen."""
        app = self.identity.app(client_id)
        if app is None:
            raise LookupError(client_id)
        redirect_uri = app.redirect_uris[0] if app.redirect_uris else ""
        code = self.identity.authorise(client_id, redirect_uri, **consent)
        return self.identity.exchange_code(app, code, redirect_uri, None)

    def _seed_demo(self) -> None:
        raise NotImplementedError

    def _register_demo_app(self, web_url: str) -> None:
        raise NotImplementedError

    @classmethod
    def with_demo(
        cls, *, snapshot_path: Path | None = None, web_url: str = DEMO_WEB_URL, **options: Any
    ) -> Self:
        """The sandbox `duely sandbox` and `duely up` serve: the demo app, redirecting to and
        sending webhooks to the web app at `web_url`, and the demo ledger. A saved snapshot,
        when there is one, is used instead of seeding, so the demo's connection survives
        restarts."""
        sandbox = cls(snapshot_path=snapshot_path, **options)  # type: ignore[call-arg]
        if snapshot_path is not None and snapshot_path.exists():
            sandbox.load_snapshot(snapshot_path)
        else:
            sandbox._seed_demo()
        # Registered afresh each start, so the demo follows the web app to another port.
        sandbox._register_demo_app(web_url)
        return sandbox

    # --- snapshots -----------------------------------------------------------------------

    def _snapshot(self) -> SnapshotT:
        raise NotImplementedError

    def _restore(self, snapshot: SnapshotT) -> None:
        """Take the service's ledgers (and whatever else it keeps) from the snapshot."""
        raise NotImplementedError

    def save_snapshot(self, path: Path) -> Path:
        return write_snapshot(path, self._snapshot())

    def load_snapshot(self, path: Path) -> None:
        snapshot = read_snapshot(path, self.SNAPSHOT_TYPE, self.SNAPSHOT_VERSION)
        self.clock.offset_seconds = snapshot.clock_offset
        self.identity.state = snapshot.identity
        self._restore(snapshot)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.webhooks.flush_pending()

    async def stop(self) -> None:
        await self.webhooks.close()
        if self.snapshot_path is not None:
            self.save_snapshot(self.snapshot_path)
            # Logged under the service's module, as before the two sandboxes shared this.
            log = logging.getLogger(type(self).__module__)
            log.info("%s sandbox saved to %s", self.SERVICE, self.snapshot_path)
