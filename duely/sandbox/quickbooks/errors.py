"""QuickBooks Online's error answers: `{"Fault": {"Error": [...], "type": ...}, "time": ...}`.

Codes and messages are QuickBooks' own where they are documented (3200 AuthenticationFailed,
3100 ApplicationAuthorizationFailed, 3001 ThrottleExceeded, 610 Object Not Found, 5010 Stale
Object Error, 4000 query parse errors, 2020 required parameter missing, 10000 system failure).
Business-rule refusals use QuickBooks' generic code 6000 ("A business validation error has
occurred while processing your request") with the sandbox's own Detail text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar import Response

from duely.sandbox.quickbooks.representations import timestamp

AUTHENTICATION = "AuthenticationFault"
AUTHORIZATION = "AuthorizationFault"
VALIDATION = "ValidationFault"
SYSTEM = "SystemFault"
THROTTLE = "ThrottleExceeded"

NOT_FOUND_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. Check the "
    "fields with accounts, customers, items, vendors or employees."
)
BUSINESS = "A business validation error has occurred while processing your request"
STALE_DETAIL = (
    "Stale Object Error : You and {user} were working on this at the same time. {user} "
    "finished before you did, so your work was not saved."
)


@dataclass
class QBError:
    message: str
    code: str
    detail: str = ""
    element: str = ""

    def as_json(self) -> dict:
        body = {"Message": self.message, "code": self.code}
        if self.detail:
            body["Detail"] = self.detail
        if self.element:
            body["element"] = self.element
        return body


class QBFault(Exception):
    """A request QuickBooks refuses; answered as a Fault of `kind` with HTTP `status`."""

    def __init__(self, errors: list[QBError], kind: str = VALIDATION, status: int = 400) -> None:
        super().__init__("; ".join(e.detail or e.message for e in errors))
        self.errors = errors
        self.kind = kind
        self.status = status

    def fault_json(self) -> dict:
        return {"Error": [e.as_json() for e in self.errors], "type": self.kind}


def not_found(element: str = "") -> QBFault:
    return QBFault([QBError("Object Not Found", "610", NOT_FOUND_DETAIL, element)])


def business(detail: str, element: str = "") -> QBFault:
    return QBFault([QBError(BUSINESS, "6000", f"Business Validation Error: {detail}", element)])


def required(parameter: str) -> QBFault:
    return QBFault(
        [
            QBError(
                "Required param missing, need to supply the required value for the API",
                "2020",
                f"Required parameter {parameter} is missing in the request",
                parameter,
            )
        ]
    )


def stale(user: str = "the sandbox user") -> QBFault:
    return QBFault([QBError("Stale Object Error", "5010", STALE_DETAIL.format(user=user))])


def invalid(detail: str, code: str = "2050", element: str = "") -> QBFault:
    """A field or parameter with a value QuickBooks cannot use."""
    return QBFault([QBError("Invalid or missing request parameter", code, detail, element)])


def query_error(detail: str) -> QBFault:
    return QBFault([QBError("Error parsing query", "4000", f"QueryParserError: {detail}")])


def query_invalid(detail: str) -> QBFault:
    return QBFault([QBError("Invalid query", "4001", f"QueryValidationError: {detail}")])


def authentication_failed() -> QBFault:
    message = "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    return QBFault([QBError(message, "3200")], AUTHENTICATION, 401)


def authorization_failed() -> QBFault:
    message = "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"
    return QBFault([QBError(message, "3100")], AUTHORIZATION, 403)


def throttled(detail: str = "The request limit was reached.") -> QBFault:
    message = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    return QBFault([QBError(message, "3001", detail)], THROTTLE, 429)


def system_failure() -> QBFault:
    return QBFault(
        [
            QBError(
                "An application error has occurred while processing your request",
                "10000",
                "System Failure Error: An unexpected error occurred while accessing or saving "
                "your data. Please wait a few minutes and try again.",
            )
        ],
        SYSTEM,
        500,
    )


def fault_body(fault: QBFault, now: datetime) -> dict:
    return {"Fault": fault.fault_json(), "time": timestamp(now, millis=True)}


def fault_response(fault: QBFault, now: datetime) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="Intuit"'} if fault.status == 401 else {}
    return Response(fault_body(fault, now), status_code=fault.status, headers=headers)
