"""The Twilio sandbox's routes, all under /twilio: Twilio's REST API (Messages) and the
sandbox's own admin API (/twilio/_admin)."""

from __future__ import annotations

from litestar import Router

from duely.sandbox.twilio.admin import TwilioAdmin
from duely.sandbox.twilio.messages import MessagesResource

TWILIO_PREFIX = "/twilio"


def create_twilio_router() -> Router:
    return Router(TWILIO_PREFIX, route_handlers=[MessagesResource, TwilioAdmin])
