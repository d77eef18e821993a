"""Xero's error answers, body and headers as Xero sends them."""

from __future__ import annotations

import uuid

from litestar import Response

VALIDATION_ERROR_NUMBER = 10
QUERY_PARSE_ERROR_NUMBER = 16


def validation_error(elements: list[dict]) -> dict:
    """The 400 body of a ValidationException; each element is the refused item with its
    ValidationErrors."""
    return {
        "ErrorNumber": VALIDATION_ERROR_NUMBER,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }


def validation_response(messages: list[str], element: dict | None = None) -> Response:
    body = dict(element or {})
    body["ValidationErrors"] = [{"Message": message} for message in messages]
    return Response(validation_error([body]), status_code=400)


def query_parse_error(message: str) -> Response:
    """A `where`/`order` Xero cannot parse, or a bad paging parameter."""
    body = {
        "ErrorNumber": QUERY_PARSE_ERROR_NUMBER,
        "Type": "QueryParseException",
        "Message": message,
    }
    return Response(body, status_code=400)


def problem(status: int, title: str, detail: str) -> dict:
    """The problem+json style body of Xero's API gateway (401, 403, 429, 500)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def not_found() -> Response:
    """Xero answers a missing record with plain text, not JSON."""
    return Response(
        "The resource you're looking for cannot be found",
        status_code=404,
        media_type="text/plain",
    )
