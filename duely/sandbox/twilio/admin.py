"""The admin API under /twilio/_admin: the capture sink of every text the embedded stack sends,
and the way to play the customer's side (text back, reply STOP). Not Twilio-shaped and
unauthenticated: it listens on loopback only.

- GET /twilio/_admin/messages (?to=, ?direction=): every message, oldest first, with the
  StatusCallback each was sent with; DELETE forgets them all
- POST /twilio/_admin/inbound {from, body, webhook_url?, to?, account_sid?}: a text from a
  customer, delivered signed to webhook_url (else the account's sms_url) as Twilio delivers it;
  answers with the message and what the webhook said
- GET/DELETE /twilio/_admin/opt-outs: who replied STOP to which of our numbers
- GET/PUT/DELETE /twilio/_admin/faults {"rules": [{status, remaining, retry_after,
  path_contains, method}]}: fail the next API calls with 429, 500 or 503
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromQuery, JSONBody

from duely.sandbox.twilio.sandbox import Refused, TwilioFault, TwilioSandbox

Body = JSONBody[dict[str, Any]]


def _sandbox(request: Request) -> TwilioSandbox:
    return request.app.state.twilio


def _error(status: int, message: str) -> Response:
    return Response({"error": message}, status_code=status)


class TwilioAdmin(Controller):
    path = "/_admin"

    @get("/messages")
    async def list_messages(
        self,
        request: Request,
        to: FromQuery[str | None] = None,
        direction: FromQuery[str | None] = None,
    ) -> list[dict]:
        return [
            {**message.as_json(), "status_callback": message.status_callback}
            for message in _sandbox(request).messages.values()
            if (to is None or message.to == to)
            and (direction is None or message.direction == direction)
        ]

    @delete("/messages", status_code=204)
    async def clear_messages(self, request: Request) -> None:
        _sandbox(request).clear()

    @post("/inbound", status_code=200)
    async def inbound(self, request: Request, data: Body) -> Response:
        try:
            message, webhook = await _sandbox(request).receive(
                str(data["from"]),
                str(data.get("body", "")),
                str(data.get("webhook_url", "")),
                to=str(data.get("to", "")),
                account_sid=str(data.get("account_sid", "")),
            )
        except KeyError as missing:
            return _error(400, f"missing field {missing}")
        except Refused as refusal:
            return _error(refusal.status, refusal.message)
        return Response(
            {"message": message.as_json(), "webhook": webhook.as_json() if webhook else None}
        )

    @get("/opt-outs")
    async def list_opt_outs(self, request: Request) -> dict[str, list[str]]:
        return {who: sorted(ours) for who, ours in _sandbox(request).opt_outs.items()}

    @delete("/opt-outs", status_code=204)
    async def clear_opt_outs(self, request: Request) -> None:
        _sandbox(request).opt_outs.clear()

    @get("/faults")
    async def get_faults(self, request: Request) -> list[dict]:
        return [asdict(fault) for fault in _sandbox(request).faults]

    @put("/faults")
    async def put_faults(self, request: Request, data: Body) -> Response:
        """Replaces every rule."""
        try:
            faults = [TwilioFault(**rule) for rule in data.get("rules", [])]
        except (TypeError, ValueError) as error:
            return _error(400, str(error))
        _sandbox(request).faults = faults
        return Response([asdict(fault) for fault in faults])

    @delete("/faults", status_code=204)
    async def clear_faults(self, request: Request) -> None:
        _sandbox(request).faults = []
