"""Check HTTP traffic against Xero's official OpenAPI specs (shared/apis/xero/).

For the sandbox's own contract tests and for the connector's tests: every request the
connector sends should match an operation of the spec, and every answer the sandbox gives
should match the spec's response schema.

    from tests.sandbox.xero_contract import assert_request_matches_spec
    assert_request_matches_spec("GET", "/api.xro/2.0/Invoices", {"page": "1"},
                                {"xero-tenant-id": tenant_id, "Authorization": "Bearer ..."})

Paths may be the sandbox's (`/xero/api.xro/2.0/...`, `/xero/connections`) or Xero's own
(`/api.xro/2.0/...`, `/connections`); both are mapped onto the spec's server URL
(XERO_SERVER). The specs are loaded once per process (the accounting one is large).

openapi-core refuses Xero's spec itself (string defaults such as 'false' on booleans), so spec
validation is switched off; requests and responses are still validated in full, formats
included. One known gap between the spec and Xero is patched, see `_patch_known_gaps`.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_DIR = Path(
    os.environ.get(
        "DUELY_XERO_SPEC_DIR",
        Path(__file__).resolve().parents[3] / "shared" / "apis" / "xero",
    )
)
SPEC_FILES = ("xero_accounting.yaml", "xero-identity.yaml", "xero-webhooks.yaml")
XERO_SERVER = "https://api.xero.com"  # the specs' own server URL; nothing is ever sent there
ACCOUNTING_PREFIX = "/api.xro/2.0"
SANDBOX_PREFIX = "/xero"


def require_xero_specs() -> None:
    """Skip the calling test when Xero's API description files are not here: they are Xero's
    (github.com/XeroAPI/Xero-OpenAPI), kept beside the checkout rather than copied into it."""
    missing = [n for n in SPEC_FILES if not (SPEC_DIR / n).is_file()]
    if missing:
        pytest.skip(
            f"Xero's OpenAPI descriptions ({', '.join(missing)}) are not in {SPEC_DIR} "
            "(../shared/apis/xero beside the checkout, or DUELY_XERO_SPEC_DIR)"
        )


def _load(name: str) -> dict:
    require_xero_specs()
    with (SPEC_DIR / name).open("rb") as stream:
        safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C one is 10x faster
        return yaml.load(stream, Loader=safe_loader)  # noqa: S506 - a safe loader


def _patch_known_gaps(identity: dict) -> dict:
    """Connection.createdDateUtc/updatedDateUtc are typed `format: date-time` (RFC 3339, an
    offset is required) but Xero sends, and the spec's own example shows,
    `2019-12-07T18:46:19.5165400` without one. The sandbox sends what Xero sends, so the
    format is dropped here and the value is checked against Xero's pattern instead."""
    connection = identity["components"]["schemas"]["Connection"]["properties"]
    for name in ("createdDateUtc", "updatedDateUtc"):
        connection[name].pop("format", None)
        connection[name]["pattern"] = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?$"
    return identity


@functools.cache
def accounting_spec() -> OpenAPI:
    return OpenAPI.from_dict(_load("xero_accounting.yaml"), config=Config(spec_validator_cls=None))


@functools.cache
def identity_spec() -> OpenAPI:
    spec = _patch_known_gaps(_load("xero-identity.yaml"))
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@functools.cache
def webhooks_spec() -> dict:
    """The webhooks spec as a dict (OpenAPI 3.1 `webhooks`, validated with jsonschema)."""
    return _load("xero-webhooks.yaml")


def spec_for(url_path: str) -> tuple[OpenAPI, str]:
    """The spec that describes `url_path` and the path as that spec's server sees it."""
    path = url_path.split("?", 1)[0]
    if path.startswith(SANDBOX_PREFIX + "/"):
        path = path[len(SANDBOX_PREFIX) :]
    if path.startswith(ACCOUNTING_PREFIX + "/"):
        return accounting_spec(), path
    if path.lower().startswith("/connections"):
        return identity_spec(), "/Connections" + path[len("/connections") :]
    raise AssertionError(f"{url_path} is not a path of Xero's Accounting or connections API")


def _request(
    method: str,
    url_path: str,
    query: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    body: Any,
) -> tuple[OpenAPI, MockRequest]:
    api, path = spec_for(url_path)
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = MockRequest(
        XERO_SERVER,
        method.lower(),
        path,
        args={name: str(value) for name, value in (query or {}).items()},
        headers=dict(headers or {}),
        data=data,
        content_type="application/json",
    )
    return api, request


def _explain(error: Exception) -> str:
    cause = error.__cause__
    details = [str(e).splitlines()[0] for e in getattr(cause, "schema_errors", ())]
    return f"{type(error).__name__}: {error}" + "".join(f"\n  - {d}" for d in details)


def assert_request_matches_spec(
    method: str,
    url_path: str,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> None:
    """Fail unless the request matches an operation of Xero's spec (path, method, query and
    header parameters, body schema). `query` values are strings as they go on the wire
    (comma lists for IDs, Statuses, ...)."""
    api, request = _request(method, url_path, query, headers, body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unsupported scheme type": OAuth2
        try:
            api.validate_request(request)
        except Exception as error:  # noqa: BLE001 - re-raised as a readable assertion
            raise AssertionError(f"{method} {url_path}: {_explain(error)}") from error


def assert_response_matches_spec(
    method: str,
    url_path: str,
    status: int,
    body: Any,
    *,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    """Fail unless `body` (parsed JSON, or bytes) is what the spec allows for `status`."""
    api, request = _request(method, url_path, query, headers, None)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = MockResponse(data, status_code=status, content_type=content_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            api.validate_response(request, response)
        except Exception as error:  # noqa: BLE001 - re-raised as a readable assertion
            raise AssertionError(f"{method} {url_path} -> {status}: {_explain(error)}") from error


def webhook_event_schema() -> dict:
    """The WebhookEvent schema, self-contained for jsonschema (draft 2020-12)."""
    spec = webhooks_spec()
    schema = dict(spec["components"]["schemas"]["WebhookEvent"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
