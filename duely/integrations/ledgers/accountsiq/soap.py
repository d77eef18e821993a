"""SOAP 1.1 as AccountsIQ's web service speaks it: envelopes built and read with ElementTree,
never by gluing strings, so a customer's name with an ampersand stays a name.

Every operation is a POST of `<soap:Envelope><soap:Body><Operation xmlns=NS>...` with the
header `SOAPAction: "NS/Operation"`; the answer is `<OperationResponse><OperationResult>`.
A malformed call is answered with a SOAP Fault (HTTP 500); a refused one with a result whose
`Status` says why (the WSDL declares no faults: errors travel inside the result).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

NAMESPACE = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
INSTANCE = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "text/xml; charset=utf-8"

Value = (
    str
    | int
    | Decimal
    | date
    | datetime
    | bool
    | None
    | Mapping[str, "Value"]
    | list[tuple[str, "Value"]]
)
"""A parameter: text, a nil, a complex type (Mapping: its elements in order) or a list of
(element, value) pairs where names repeat (an ArrayOfString is [("string", "A"), ...])."""


class SoapFault(Exception):
    """The service could not read the call (HTTP 500 with a soap:Fault)."""


def soap_action(operation: str) -> str:
    return f'"{NAMESPACE}{operation}"'


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return str(value)


def _fill(parent: ET.Element, name: str, value: Value) -> None:
    child = ET.SubElement(parent, f"{{{NAMESPACE}}}{name}")
    if value is None:
        child.set(f"{{{INSTANCE}}}nil", "true")
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(child, key, inner)
    elif isinstance(value, list):
        for key, inner in value:
            _fill(child, key, inner)
    else:
        child.text = _text(value)


def envelope(operation: str, parameters: Iterable[tuple[str, Value]]) -> bytes:
    """The request for `operation`, its parameters in the WSDL's order."""
    ET.register_namespace("soap", ENVELOPE)
    ET.register_namespace("xsi", INSTANCE)
    root = ET.Element(f"{{{ENVELOPE}}}Envelope")
    body = ET.SubElement(root, f"{{{ENVELOPE}}}Body")
    call = ET.SubElement(body, f"{{{NAMESPACE}}}{operation}")
    for name, value in parameters:
        _fill(call, name, value)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def response(answer: bytes, operation: str) -> ET.Element:
    """The `<OperationResponse>` element of the answer (its `<OperationResult>` and, for
    some operations, values beside it); SoapFault for a fault or an answer that is not the
    operation's."""
    try:
        root = ET.fromstring(answer)  # noqa: S314 - the configured AccountsIQ host's answer
    except ET.ParseError as error:
        raise SoapFault(f"AccountsIQ's answer is not XML: {error}") from error
    fault = root.find(f".//{{{ENVELOPE}}}Fault")
    if fault is not None:
        raise SoapFault((fault.findtext("faultstring") or "a SOAP fault").strip())
    found = root.find(f".//{{{NAMESPACE}}}{operation}Response")
    if found is None:
        raise SoapFault(f"AccountsIQ's answer holds no {operation}Response")
    return found


def child(element: ET.Element, name: str) -> ET.Element | None:
    return element.find(f"{{{NAMESPACE}}}{name}")


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return element.findall(f"{{{NAMESPACE}}}{name}")


def text(element: ET.Element | None, name: str, default: str = "") -> str:
    """The text of `element`'s child `name` ("" when absent or nil)."""
    if element is None:
        return default
    found = child(element, name)
    if found is None or found.get(f"{{{INSTANCE}}}nil") == "true":
        return default
    return (found.text or "").strip()
