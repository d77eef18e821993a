"""SOAP 1.1 the way an ASMX service speaks it: reading a request envelope, writing a response
envelope (document/literal, the operation's namespace as the default one) and SOAP Faults.

Everything is built and parsed with xml.etree.ElementTree. Values follow .NET's
XmlSerializer: decimals as plain decimals, booleans as true/false, dates as xs:dateTime
(business dates at midnight without a zone, UTC stamps ending in Z), a null reference left out
when the element may be absent (minOccurs=0) and written xsi:nil="true" when it is nillable
and required.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: N817, S405 - builds our own answers; parses below
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
TNS = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPE = "text/xml; charset=utf-8"

ET.register_namespace("soap", SOAP_NS)
ET.register_namespace("xsi", XSI)
ET.register_namespace("xsd", XSD)


class SoapFault(Exception):
    """Answered as a soap:Fault with HTTP 500, as ASMX answers every fault."""

    def __init__(self, faultcode: str, faultstring: str) -> None:
        super().__init__(faultstring)
        self.faultcode = faultcode
        self.faultstring = faultstring


class Nil:
    """A required nillable element with no value: written xsi:nil="true"."""


NIL = Nil()
Value = str | Nil | None | Callable[[ET.Element], None]
Fields = Sequence[tuple[str, Value]]


def q(name: str) -> str:
    return f"{{{TNS}}}{name}"


# --- writing ---------------------------------------------------------------------------------


def money(minor: int) -> str:
    return str((Decimal(minor) / 100).quantize(Decimal("0.01")))


def boolean(value: bool) -> str:
    return "true" if value else "false"


def day(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


def stamp(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def write(parent: ET.Element, fields: Fields) -> None:
    """Append `fields` in order: a string as text, NIL as xsi:nil, None left out, a callable
    filling the element it is given."""
    for name, value in fields:
        if value is None:
            continue
        element = ET.SubElement(parent, q(name))
        if isinstance(value, Nil):
            element.set(f"{{{XSI}}}nil", "true")
        elif isinstance(value, str):
            element.text = value
        else:
            value(element)


def array(item: str, rows: Iterable, fields_of: Callable[[object], Fields]) -> Value:
    def fill(element: ET.Element) -> None:
        for row in rows:
            write(element, [(item, lambda e, row=row: write(e, fields_of(row)))])

    return fill


def result_status(status: str, code: str, message: str | None, expired: bool) -> Fields:
    """OperationResult then WSResultStatus's HasExpired."""
    return [
        ("Status", status),
        ("ErrorCode", code),
        ("ErrorMessage", message),
        ("HasExpired", boolean(expired)),
    ]


def envelope(operation: str, fields: Fields) -> bytes:
    root = ET.Element(f"{{{SOAP_NS}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP_NS}}}Body")
    response = ET.SubElement(body, q(f"{operation}Response"))
    write(response, fields)
    return _serialise(root)


def fault(faultcode: str, faultstring: str) -> bytes:
    root = ET.Element(f"{{{SOAP_NS}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP_NS}}}Body")
    element = ET.SubElement(body, f"{{{SOAP_NS}}}Fault")
    ET.SubElement(element, "faultcode").text = faultcode
    ET.SubElement(element, "faultstring").text = faultstring
    ET.SubElement(element, "detail")
    return _serialise(root, default_namespace=None)


def _serialise(root: ET.Element, default_namespace: str | None = TNS) -> bytes:
    """With the operation's namespace as the default one, as ASMX writes it (a fault's own
    children are unqualified, so a fault has none)."""
    declaration = b'<?xml version="1.0" encoding="utf-8"?>'
    return declaration + ET.tostring(root, encoding="utf-8", default_namespace=default_namespace)


# --- reading ---------------------------------------------------------------------------------


def operation_element(body: bytes, soap_action: str) -> tuple[str, ET.Element]:
    """(operation name, its request element) from an envelope, or a SoapFault as ASMX gives:
    unreadable XML, not a SOAP 1.1 envelope, a SOAPAction it does not know, or a body element
    that is not the SOAPAction's operation."""
    action = soap_action.strip().strip('"')
    if not action.startswith(TNS) or not action[len(TNS) :]:
        raise SoapFault(
            "soap:Client",
            f"Server did not recognize the value of HTTP Header SOAPAction: {action}.",
        )
    operation = action[len(TNS) :]
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTDs or entities are expanded by expat here
    except ET.ParseError as error:
        line, column = error.position
        raise SoapFault(
            "soap:Client",
            "Server was unable to read request. ---> There is an error in XML document "
            f"({line}, {column + 1}). ---> {error}",
        ) from None
    if root.tag == f"{{{SOAP12_NS}}}Envelope":
        raise SoapFault(
            "soap:VersionMismatch",
            "Possible SOAP version mismatch: Envelope namespace "
            f"{SOAP12_NS} was unexpected. Expecting {SOAP_NS}.",
        )
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapFault(
            "soap:Client",
            "Server was unable to read request. ---> There is an error in XML document (1, 1). "
            f"---> <{root.tag}> was not expected.",
        )
    body_element = root.find(f"{{{SOAP_NS}}}Body")
    children = list(body_element) if body_element is not None else []
    if not children or children[0].tag != q(operation):
        found = children[0].tag if children else "nothing"
        raise SoapFault(
            "soap:Client",
            f"Server was unable to read request. ---> The SOAP body holds {found}, "
            f"not the {operation} element that SOAPAction names.",
        )
    return operation, children[0]


def _bad(name: str, text: str) -> SoapFault:
    return SoapFault(
        "soap:Client",
        "Server was unable to read request. ---> There is an error in XML document. ---> "
        f"The string '{text}' is not a valid value for {name}.",
    )


def child(parent: ET.Element | None, name: str) -> ET.Element | None:
    return None if parent is None else parent.find(q(name))


def _is_nil(element: ET.Element) -> bool:
    return element.get(f"{{{XSI}}}nil") in ("true", "1")


def text(parent: ET.Element | None, name: str) -> str | None:
    """The element's text exactly as sent (nothing trimmed); None when absent or nil."""
    element = child(parent, name)
    if element is None or _is_nil(element):
        return None
    return element.text or ""


def integer(parent: ET.Element | None, name: str, default: int | None = 0) -> int | None:
    raw = text(parent, name)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise _bad(name, raw) from None


def decimal_minor(parent: ET.Element | None, name: str) -> int:
    """A decimal amount in minor units (an absent one is 0, as XmlSerializer leaves it)."""
    raw = text(parent, name)
    if raw is None:
        return 0
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise _bad(name, raw) from None
    if not value.is_finite():
        raise _bad(name, raw)
    return int((value * 100).to_integral_value())


def flag(parent: ET.Element | None, name: str, default: bool = False) -> bool:
    raw = text(parent, name)
    if raw is None:
        return default
    if raw.strip() in ("true", "1"):
        return True
    if raw.strip() in ("false", "0"):
        return False
    raise _bad(name, raw)


def moment(parent: ET.Element | None, name: str) -> datetime | None:
    """An xs:dateTime (a zone-less one read as UTC); None when absent or nil."""
    raw = text(parent, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(name, raw) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def strings(parent: ET.Element | None, name: str) -> list[str] | None:
    element = child(parent, name)
    if element is None:
        return None
    return [e.text or "" for e in element.findall(q("string")) if not _is_nil(e)]


def integers(parent: ET.Element | None, name: str) -> list[int] | None:
    element = child(parent, name)
    if element is None:
        return None
    try:
        return [int((e.text or "").strip()) for e in element.findall(q("int"))]
    except ValueError:
        raise _bad(name, "int") from None
