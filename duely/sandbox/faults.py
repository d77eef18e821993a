"""Fault injection for the ledger sandboxes' emulated APIs (never their admin APIs).

A rule matches requests by path substring, method and tenant, and then adds latency and,
with some probability, answers 429 (with Retry-After), 500, or "drops" the response. A
dropped response is processed in full (the payment IS recorded) and then the connection is
cut mid-answer: the gateway sends the status line and headers promising a body, then aborts,
so uvicorn closes the socket and the client sees a network failure (httpx:
RemoteProtocolError), never an HTTP status. In-process (an ASGI test client) the abort
surfaces as an exception raised from the call (DroppedResponse, wrapped by Litestar).

A rule with `remaining` set is one-shot: it fails the next N matching requests with
`fail_with` (429, 500 or drop) and then retires. A rule's `tenant_id` is the Xero tenant or the
QuickBooks realm. `run_with_faults` carries a plan out in an ASGI gateway; each sandbox says
how its service words a 429 and a 500.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

FAILURES = ("429", "500", "drop")
DROPPED_BODY_LENGTH = 1024


class DroppedResponse(Exception):  # noqa: N818 - it names what happens, not an error kind
    """Raised after the response has started, so the server cuts the connection."""


@dataclass
class FaultRule:
    path_contains: str = ""
    method: str = ""
    tenant_id: str = ""
    latency_ms: int = 0
    answer_delay_ms: int = 0
    """Process the request at once but hold its answer this long: a client that dies while
    waiting leaves a write behind that it never heard about."""
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    retry_after: int = 1
    remaining: int | None = None
    fail_with: str = "500"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.fail_with not in FAILURES:
            raise ValueError(f"fail_with must be one of {', '.join(FAILURES)}")
        for rate in (self.rate_429, self.rate_500, self.rate_drop):
            if not 0.0 <= rate <= 1.0:
                raise ValueError("rates are probabilities between 0 and 1")

    def matches(self, method: str, path: str, tenant_id: str | None) -> bool:
        return (
            self.path_contains in path
            and (not self.method or self.method.upper() == method)
            and (not self.tenant_id or self.tenant_id == tenant_id)
        )

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class FaultPlan:
    """What to do to one request: wait, then fail (or not)."""

    latency_ms: int = 0
    answer_delay_ms: int = 0
    failure: str = ""  # "", "429", "500", "drop"
    retry_after: int = 1


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.random = random.Random(seed)  # noqa: S311 - a simulation, not a secret

    def replace(self, rules: list[FaultRule], seed: int | None = None) -> None:
        self.rules = rules
        if seed is not None:
            self.random.seed(seed)

    def clear(self) -> None:
        self.rules = []

    def plan(self, method: str, path: str, tenant_id: str | None) -> FaultPlan:
        plan = FaultPlan()
        for rule in list(self.rules):
            if not rule.matches(method, path, tenant_id):
                continue
            plan.latency_ms += rule.latency_ms
            plan.answer_delay_ms += rule.answer_delay_ms
            if plan.failure:
                continue
            if rule.remaining is not None:
                plan.failure, plan.retry_after = rule.fail_with, rule.retry_after
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                continue
            draw = self.random.random()
            rates = (("429", rule.rate_429), ("500", rule.rate_500), ("drop", rule.rate_drop))
            for failure, rate in rates:
                if draw < rate:
                    plan.failure, plan.retry_after = failure, rule.retry_after
                    break
                draw -= rate
        return plan


# --- carrying a plan out in an ASGI gateway --------------------------------------------------

Refusal = Callable[[str, int], tuple[int, object, dict[str, str]]]
"""(failure "429" or "500", retry_after) -> (status, JSON body, extra headers)."""


async def send_json(send: Send, status: int, body: object, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers


async def run_with_faults(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    plan: FaultPlan,
    headers: dict[str, str],
    refusal: Refusal,
) -> None:
    """Wait the plan's latency, then fail as planned or run `app` (adding `headers`)."""
    if plan.latency_ms:
        await asyncio.sleep(plan.latency_ms / 1000)
    if plan.failure in ("429", "500"):
        status, body, extra = refusal(plan.failure, plan.retry_after)
        await send_json(send, status, body, {**headers, **extra})
    elif plan.failure == "drop":
        await _drop(app, scope, receive, send)
    elif plan.answer_delay_ms:
        await app(scope, receive, _delayed(with_headers(send, headers), plan.answer_delay_ms))
    else:
        await app(scope, receive, with_headers(send, headers))


def _delayed(send: Send, delay_ms: int) -> Send:
    """Hold the answer after the request has been processed."""

    async def send_later(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(delay_ms / 1000)
        await send(message)

    return send_later


async def _drop(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Process the request in full, throw its answer away and cut the connection."""

    async def discard(message: Message) -> None:
        return None

    await app(scope, receive, discard)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(DROPPED_BODY_LENGTH).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise DroppedResponse(f"{scope['method']} {scope['path']}: response dropped on purpose")
