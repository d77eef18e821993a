"""The admin API endpoints the ledger sandboxes share (under /xero/_admin and
/quickbooks/_admin): apps listed, grants revoked or their tokens expired, the clock moved,
fault rules and rate limits set, webhook deliveries listed, snapshots saved and loaded.

JSON for tests, benchmarks and the demo; not shaped like either service, unauthenticated and
served on loopback only. Each service's admin controller subclasses `SandboxAdmin` and adds
its ledgers and records; where it answers differently (Xero lists a grant's tenants, a
QuickBooks fault rule names its realm) it overrides the one endpoint or hook.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from duely.sandbox.faults import FaultRule

Body = JSONBody[dict[str, Any]]


def admin_error(status: int, message: str) -> Response:
    return Response({"error": message}, status_code=status)


def app_json(app: object) -> dict:
    """An app as the admin API shows it: everything but its secret."""
    body = asdict(app)  # type: ignore[call-overload] - every service's App is a dataclass
    body.pop("client_secret")
    return body


class SandboxAdmin(Controller):
    path = "/_admin"
    STATE_NAME: ClassVar[str]
    """The sandbox's attribute on app.state ("xero", "quickbooks")."""
    RATE_LIMITS: ClassVar[type]
    """The service's RateLimits dataclass."""
    LEDGERS_NAME: ClassVar[str]
    """What a snapshot load counts ("tenants", "realms")."""

    def _sandbox(self, request: Request) -> Any:
        return getattr(request.app.state, self.STATE_NAME)

    def _ledger_count(self, sandbox: Any) -> int:
        raise NotImplementedError

    def _fault_rule(self, fields: dict[str, Any]) -> FaultRule:
        return FaultRule(**fields)

    # --- apps ----------------------------------------------------------------------------

    @get("/apps")
    async def list_apps(self, request: Request) -> list[dict]:
        return [app_json(app) for app in self._sandbox(request).identity.state.apps.values()]

    # --- grants and tokens ---------------------------------------------------------------

    @get("/grants")
    async def list_grants(self, request: Request) -> list[dict]:
        return [asdict(grant) for grant in self._sandbox(request).identity.state.grants.values()]

    @post("/grants/{grant_id:str}/revoke", status_code=200)
    async def revoke_grant(self, request: Request, grant_id: FromPath[str]) -> Response:
        identity = self._sandbox(request).identity
        if grant_id not in identity.state.grants:
            return admin_error(404, f"no grant {grant_id}")
        identity.revoke_grant(grant_id)
        return Response({"revoked": grant_id})

    @post("/grants/{grant_id:str}/expire-access-tokens", status_code=200)
    async def expire_tokens(self, request: Request, grant_id: FromPath[str]) -> Response:
        identity = self._sandbox(request).identity
        if grant_id not in identity.state.grants:
            return admin_error(404, f"no grant {grant_id}")
        return Response({"expired": identity.expire_access_tokens(grant_id)})

    # --- clock ---------------------------------------------------------------------------

    @get("/clock")
    async def get_clock(self, request: Request) -> dict:
        clock = self._sandbox(request).clock
        return {"now": clock.now().isoformat(), "offset_seconds": clock.offset_seconds}

    @post("/clock/advance", status_code=200)
    async def advance_clock(self, request: Request, data: Body) -> Response:
        """Body: {"seconds": N}. The clock never goes back."""
        clock = self._sandbox(request).clock
        try:
            clock.advance(float(data["seconds"]))
        except (KeyError, ValueError) as error:
            return admin_error(400, str(error))
        return Response({"now": clock.now().isoformat(), "offset_seconds": clock.offset_seconds})

    # --- faults and limits ---------------------------------------------------------------

    @get("/faults")
    async def get_faults(self, request: Request) -> list[dict]:
        return [rule.as_json() for rule in self._sandbox(request).faults.rules]

    @put("/faults")
    async def put_faults(self, request: Request, data: Body) -> Response:
        """Body: {"rules": [FaultRule fields], "seed": optional}; replaces all rules. A rule:
        path_contains, method, tenant_id (QuickBooks: realm_id), latency_ms, answer_delay_ms,
        rate_429, rate_500, rate_drop, retry_after, remaining, fail_with ("429", "500",
        "drop")."""
        try:
            rules = [self._fault_rule(rule) for rule in data.get("rules", [])]
        except (TypeError, ValueError) as error:
            return admin_error(400, str(error))
        self._sandbox(request).faults.replace(rules, data.get("seed"))
        return Response([rule.as_json() for rule in rules])

    @delete("/faults", status_code=204)
    async def clear_faults(self, request: Request) -> None:
        self._sandbox(request).faults.clear()

    @get("/rate-limits")
    async def get_rate_limits(self, request: Request) -> dict:
        return self._sandbox(request).limiter.limits.as_json()

    @put("/rate-limits")
    async def put_rate_limits(self, request: Request, data: Body) -> Response:
        """Body: any of the service's RateLimits fields; and reset_counters (true forgets the
        calls counted so far)."""
        limiter = self._sandbox(request).limiter
        current = limiter.limits.as_json()
        unknown = set(data) - set(current) - {"reset_counters"}
        if unknown:
            return admin_error(400, f"unknown fields: {', '.join(sorted(unknown))}")
        current.update({k: v for k, v in data.items() if k in current})
        limiter.limits = self.RATE_LIMITS(**current)
        if data.get("reset_counters"):
            limiter.reset()
        return Response(limiter.limits.as_json())

    # --- webhooks and snapshots ----------------------------------------------------------

    @get("/webhooks/deliveries")
    async def list_deliveries(
        self, request: Request, client_id: FromQuery[str | None] = None
    ) -> list:
        deliveries = self._sandbox(request).webhooks.deliveries
        return [d.as_json() for d in deliveries if client_id is None or d.client_id == client_id]

    @post("/snapshot/save", status_code=200)
    async def save_snapshot(self, request: Request, data: Body) -> Response:
        """Body: {"path": optional}; defaults to the sandbox's snapshot path."""
        sandbox = self._sandbox(request)
        path = Path(data["path"]) if data.get("path") else sandbox.snapshot_path
        if path is None:
            return admin_error(400, "no path given and no snapshot path configured")
        return Response({"saved": str(sandbox.save_snapshot(path))})

    @post("/snapshot/load", status_code=200)
    async def load_snapshot(self, request: Request, data: Body) -> Response:
        sandbox = self._sandbox(request)
        path = Path(data["path"]) if data.get("path") else sandbox.snapshot_path
        if path is None or not path.exists():
            return admin_error(404, f"no snapshot at {path}")
        sandbox.load_snapshot(path)
        return Response({"loaded": str(path), self.LEDGERS_NAME: self._ledger_count(sandbox)})
