"""Twilio's error answers: `{code, message, more_info, status}` with the HTTP status."""

from __future__ import annotations

from litestar import Response

INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503
INVALID_TO = 21211
INVALID_FROM = 21212
NO_INTERNATIONAL_PERMISSION = 21408
BODY_REQUIRED = 21602
FROM_REQUIRED = 21603
TO_REQUIRED = 21604
FROM_NOT_OWNED = 21606
UNSUBSCRIBED_RECIPIENT = 21610
NOT_ROUTABLE = 21612
NOT_MOBILE = 21614
BODY_TOO_LONG = 21617
INVALID_MESSAGING_SERVICE = 21705


def twilio_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


def authenticate() -> Response:
    return twilio_error(
        401, AUTHENTICATE, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
    )


def not_found(path: str) -> Response:
    return twilio_error(404, NOT_FOUND, f"The requested resource {path} was not found")
