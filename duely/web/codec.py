"""The Temporal Web UI's codec endpoint: `POST /codec/decode` and `POST /codec/encode`.

Workflow histories hold payloads encrypted by duely.core.temporal.codec, so the Temporal UI (the
operators' console) shows ciphertext until it asks here: it posts a history's payloads and a
signed-in admin gets them back decrypted (encode is the reverse, for input typed into the UI).
The protocol is Temporal's remote codec: a JSON body `{"payloads": [...]}` holding Payloads in
protobuf's JSON form (each metadata value and the data base64), answered in the same shape;
400 for a body that is not that or a payload this duely cannot decrypt.

The UI runs on its own origin (`DUELY_TEMPORAL_UI_URL`) and sends the admin's duely session
cookie only with "Include cross-origin credentials" on, so CORS is answered for exactly that
origin, with credentials, and never for any other. The path is exempt from CSRF (the UI posts
JSON without a token) but not from sign-in. In the token's place: a request from any other
origin is refused, and the body must be JSON, which another page can only send after a
preflight that only the UI's origin passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from google.protobuf import json_format
from litestar import Request, Response, Router, post, route
from litestar.enums import HttpMethod
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from temporalio.api.common.v1 import Payload, Payloads

from duely.core.temporal.codec import EncryptionCodec, PayloadDecryptionError
from duely.settings import Settings
from duely.web.auth import requires_admin

CODEC_PATH = "/codec"
ALLOWED_HEADERS = "Content-Type, X-Namespace"
"""What the UI sends: its JSON, and the namespace the payloads come from."""
PREFLIGHT_MAX_AGE_SECONDS = 600

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def ui_origin(settings: Settings) -> str:
    parts = urlsplit(settings.resolved_temporal_ui_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cors_headers(request: Request) -> dict[str, str]:
    """CORS for the Temporal UI's origin alone; `Vary` so no cache hands one origin's answer
    to another."""
    origin = request.headers.get("origin")
    if origin is None or origin != ui_origin(request.app.state.settings):
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _refuse_other_origins(request: Request) -> None:
    """A browser names the page's origin: only the Temporal UI's may use an admin's cookie
    here. (Callers that are not browsers send none.)"""
    origin = request.headers.get("origin")
    if origin is not None and origin != ui_origin(request.app.state.settings):
        raise PermissionDeniedException(
            f"Only the Temporal UI at {ui_origin(request.app.state.settings)} may use the "
            f"codec endpoint, not {origin}."
        )


async def _answer(request: Request, transform: Transform) -> Response:
    _refuse_other_origins(request)
    if request.content_type[0] != "application/json":
        raise HTTPException(status_code=415, detail="The codec endpoint takes application/json.")
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as error:
        raise HTTPException(
            status_code=400,
            detail=f'The body must be {{"payloads": [...]}}, Payloads in protobuf JSON: {error}',
        ) from None
    try:
        answered = await transform(payloads.payloads)
    except PayloadDecryptionError as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    return Response(
        json_format.MessageToDict(Payloads(payloads=answered)),
        # Decrypted payloads are customers' personal data: no cache keeps them.
        headers={**_cors_headers(request), "Cache-Control": "no-store"},
    )


def _codec(request: Request) -> EncryptionCodec:
    return EncryptionCodec(request.app.state.settings.resolved_secret_key)


@post("/decode", guards=[requires_admin], status_code=200, include_in_schema=False)
async def decode(request: Request) -> Response:
    return await _answer(request, _codec(request).decode)


@post("/encode", guards=[requires_admin], status_code=200, include_in_schema=False)
async def encode(request: Request) -> Response:
    return await _answer(request, _codec(request).encode)


# A preflight never carries cookies, so it is answered without sign-in; it grants nothing by
# itself (the post that follows still needs an admin's session).
@route(
    ["/decode", "/encode"],
    http_method=HttpMethod.OPTIONS,
    include_in_schema=False,
    opt={"exclude_from_auth": True},
)
async def preflight(request: Request) -> Response:
    cors = _cors_headers(request)
    if "Access-Control-Allow-Origin" not in cors:
        return Response(None, status_code=403, headers=cors)
    return Response(
        None,
        status_code=204,
        headers={
            **cors,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
    )


def _error(request: Request, error: HTTPException) -> Response:
    """JSON, never the pages' sign-in redirect or HTML, and readable by the UI (CORS) so it
    can show why it got no decoded payloads."""
    return Response(
        {"status_code": error.status_code, "detail": error.detail},
        status_code=error.status_code,
        headers={**(error.headers or {}), **_cors_headers(request)},
    )


codec_router = Router(
    path=CODEC_PATH,
    # The preflight first: a path registered without an OPTIONS handler gets Litestar's own,
    # which would then shadow this one.
    route_handlers=[preflight, decode, encode],
    # Every class the app maps to its page errors, so these take precedence for this path.
    exception_handlers={
        HTTPException: _error,
        NotAuthorizedException: _error,
        PermissionDeniedException: _error,
        NotFoundException: _error,
    },
)
