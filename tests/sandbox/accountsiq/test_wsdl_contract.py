"""Every emulated operation's request and response against AccountsIQ's own WSDL for
Integration 1.1: element names, their order, required elements, nil only where nillable,
and enumerated values (OperationStatus, VisorExceptionCodes, InvoiceStatus, ...).

The WSDL is another project's file and is not in this repository: the test reads a scratch
copy at /tmp/aiq/integration_1_1.wsdl (or DUELY_ACCOUNTSIQ_WSDL) and skips, naming that file,
when there is none.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET  # noqa: N817
from dataclasses import dataclass
from pathlib import Path

import pytest

from duely.sandbox.accountsiq.company import Company
from duely.sandbox.accountsiq.seed import DEMO_BANK_ACCOUNT_CODE
from duely.sandbox.accountsiq.service import EMULATED
from tests.sandbox.accountsiq.conftest import (
    COMPANY_ID,
    PARTNER_KEY,
    SOAP,
    USER_KEY,
    XSI,
    SoapClient,
    envelope,
    local,
)

WSDL = Path(os.environ.get("DUELY_ACCOUNTSIQ_WSDL", "/tmp/aiq/integration_1_1.wsdl"))  # noqa: S108
XS = "http://www.w3.org/2001/XMLSchema"
BUILTIN = "s:"


@dataclass
class Particle:
    name: str
    type: str
    min_occurs: int
    max_occurs: int | None  # None: unbounded
    nillable: bool


class Schema:
    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()  # noqa: S314 - a local scratch file
        schema = root.find(f".//{{{XS}}}schema")
        assert schema is not None
        self.elements: dict[str, list[Particle]] = {}
        self.types: dict[str, tuple[str | None, list[Particle]]] = {}
        self.enums: dict[str, set[str]] = {}
        for node in schema:
            name = node.get("name", "")
            if node.tag == f"{{{XS}}}element":
                inline = node.find(f"{{{XS}}}complexType")
                self.elements[name] = self._sequence(inline) if inline is not None else []
            elif node.tag == f"{{{XS}}}complexType":
                extension = node.find(f"{{{XS}}}complexContent/{{{XS}}}extension")
                if extension is not None:
                    base = extension.get("base", "").removeprefix("tns:")
                    self.types[name] = (base, self._sequence(extension))
                else:
                    self.types[name] = (None, self._sequence(node))
            elif node.tag == f"{{{XS}}}simpleType":
                values = node.findall(f"{{{XS}}}restriction/{{{XS}}}enumeration")
                self.enums[name] = {v.get("value", "") for v in values}

    @staticmethod
    def _sequence(node: ET.Element) -> list[Particle]:
        sequence = node.find(f"{{{XS}}}sequence")
        particles = []
        for each in sequence if sequence is not None else []:
            most = each.get("maxOccurs", "1")
            particles.append(
                Particle(
                    each.get("name", ""),
                    each.get("type", ""),
                    int(each.get("minOccurs", "1")),
                    None if most == "unbounded" else int(most),
                    each.get("nillable") == "true",
                )
            )
        return particles

    def particles(self, type_name: str) -> list[Particle]:
        base, own = self.types[type_name]
        return (self.particles(base) if base else []) + own


def check(schema: Schema, element: ET.Element, particles: list[Particle], path: str) -> list[str]:
    """Problems of `element`'s children against `particles` (empty: none)."""
    problems: list[str] = []
    children = list(element)
    at = 0
    for particle in particles:
        count = 0
        while at < len(children) and local(children[at]) == particle.name:
            problems += check_value(schema, children[at], particle, f"{path}/{particle.name}")
            at += 1
            count += 1
        if count < particle.min_occurs:
            problems.append(f"{path}: required {particle.name} missing")
        if particle.max_occurs is not None and count > particle.max_occurs:
            problems.append(f"{path}: {particle.name} {count} times")
    problems += [f"{path}: {local(c)} undeclared or out of order" for c in children[at:]]
    return problems


def check_value(schema: Schema, element: ET.Element, particle: Particle, path: str) -> list[str]:
    if element.get(f"{{{XSI}}}nil") == "true":
        return [] if particle.nillable else [f"{path}: nil but not nillable"]
    kind = particle.type.removeprefix("tns:")
    if particle.type.startswith(BUILTIN):
        return [f"{path}: has children"] if len(element) else []
    if kind in schema.enums:
        allowed = schema.enums[kind]
        return [] if (element.text or "") in allowed else [f"{path}: {element.text} not in {kind}"]
    return check(schema, element, schema.particles(kind), path)


@pytest.fixture(scope="module")
def schema() -> Schema:
    if not WSDL.exists():
        pytest.skip(f"AccountsIQ's WSDL for Integration 1.1 is not at {WSDL}: save it there")
    return Schema(WSDL)


def _receipt(code: str, amount: str, reference: str) -> list:
    return [
        ("CustomerCode", code),
        ("CheckReference", reference),
        ("PaymentAmount", amount),
        ("BankAccountCode", DEMO_BANK_ACCOUNT_CODE),
        ("PaymentDate", "2026-03-01T00:00:00"),
        ("ExchangeRate", "1"),
        ("BankExchangeRate", "1"),
    ]


async def test_every_emulated_operation_answers_in_the_wsdl_shapes(
    schema: Schema, soap: SoapClient, company: Company
):
    login = [("companyID", COMPANY_ID), ("partnerKey", PARTNER_KEY), ("userKey", USER_KEY)]
    token = await soap.login()
    assert token
    invoice = next(i for i in company.invoices if company.invoice_outstanding(i) == i.gross)
    customer = company.customer_by_id(invoice.account_id)
    assert customer is not None
    dates = [("FromDate", "0001-01-01T00:00:00"), ("ToDate", "0001-01-01T00:00:00")]
    dates += [("FromCreationDate", "0001-01-01T00:00:00")]
    dates += [("ToCreationDate", "0001-01-01T00:00:00"), ("Skip", "0")]
    calls: list[tuple[str, list]] = [
        ("Login", login),
        ("Login", [("companyID", COMPANY_ID), ("partnerKey", "wrong"), ("userKey", USER_KEY)]),
        ("GetCustomerList", [("token", token)]),
        ("GetCustomerList", [("token", "expired")]),
        (
            "GetCustomersBy",
            [
                ("token", token),
                (
                    "query",
                    [
                        ("Emails", [("string", customer.email)]),
                        ("FromLastModifiedDateInUTC", "2000-01-01T00:00:00Z"),
                    ],
                ),
            ],
        ),
        ("GetInvoice", [("token", token), ("invoiceID", str(invoice.invoice_id))]),
        ("GetInvoice", [("token", token), ("invoiceID", "1")]),
        ("GetInvoicesByCustomerCode", [("token", token), ("customerCode", customer.code)]),
        (
            "GetInvoicesBy",
            [
                ("token", token),
                (
                    "query",
                    [
                        *dates,
                        ("Status", "Posted"),
                        ("OrderBy", "DueDate"),
                        ("Limit", "5"),
                        ("FromLastModifiedDateInUTC", "2000-01-01T00:00:00Z"),
                    ],
                ),
            ],
        ),
        ("GetBankList", [("token", token)]),
        (
            "SaveSalesReceiptGetBackTransactionID",
            [("token", token), ("salesReceipt", _receipt(customer.code, "10.00", "contract-1"))],
        ),
        (
            "SaveSalesReceiptGetBackTransactionID",
            [("token", token), ("salesReceipt", _receipt("NOSUCH", "10.00", "contract-2"))],
        ),
        (
            "GetTransactionsByExternalReference",
            [
                ("token", token),
                (
                    "query",
                    [
                        ("ExternalReference", "contract-1"),
                        ("FromDate", "2026-01-01T00:00:00"),
                        ("ToDate", "2026-12-31T00:00:00"),
                    ],
                ),
            ],
        ),
        (
            "GetTransactionsByExternalReference",
            [
                ("token", token),
                (
                    "query",
                    [
                        ("ExternalReference", invoice.external_reference),
                        ("FromDate", "0001-01-01T00:00:00"),
                        ("ToDate", "0001-01-01T00:00:00"),
                    ],
                ),
            ],
        ),
        (
            "GetCustomersStatement",
            [
                ("token", token),
                ("upTo", "2099-01-01T00:00:00"),
                ("customerCodes", [("string", customer.code)]),
                ("showZeros", "true"),
            ],
        ),
    ]
    answers = []
    for operation, params in calls:
        answers.append((operation, params, await soap.call(operation, params)))
    receipt_id = next(
        a.response.findtext(f"{{{a.response.tag.split('}')[0][1:]}}}transactionID")
        for op, _, a in answers
        if op == "SaveSalesReceiptGetBackTransactionID"
    )
    more: list[tuple[str, list]] = [
        (
            "AllocateTransactions",
            [
                ("token", token),
                ("transactionID_1", receipt_id or "0"),
                ("transactionID_2", str(invoice.transaction_id)),
                ("allocationReference", "contract-1"),
                ("allocationAmount", "10.00"),
                ("allocationDate", "2026-03-01T00:00:00"),
            ],
        ),
        (
            "AllocateTransactions",
            [
                ("token", token),
                ("transactionID_1", "1"),
                ("transactionID_2", "2"),
                ("allocationReference", "x"),
                ("allocationAmount", "1.00"),
                ("allocationDate", "2026-03-01T00:00:00"),
            ],
        ),
        (
            "PostPayAndAllocateSalesInvoice",
            [
                ("token", token),
                (
                    "query",
                    [
                        ("PerformExternalReferenceDuplicateCheckOnInvoice", "true"),
                        ("PerformExternalReferenceDuplicateCheckOnReceipt", "false"),
                        (
                            "BatchInvoice",
                            [
                                ("CustomerCode", customer.code),
                                ("InvoiceDate", "2026-03-01T00:00:00"),
                                ("ExternalReference", "contract-pos"),
                                (
                                    "Lines",
                                    [
                                        (
                                            "BatchSalesInvoiceLine",
                                            [
                                                ("NetAmount", "20.00"),
                                                ("TaxRate", "0"),
                                                ("TaxAmount", "0"),
                                            ],
                                        )
                                    ],
                                ),
                                ("ExchangeRate", "1"),
                            ],
                        ),
                        ("Receipt", _receipt(customer.code, "20.00", "contract-pos-pay")),
                        ("PerformAllocation", "true"),
                        ("AllocationDate", "2026-03-01T00:00:00"),
                        ("AllocationAmount", "20.00"),
                        ("AllocationReference", "contract-pos"),
                        ("ClientUniqueReference", "c-1"),
                        ("EnforceCreditLimit", "false"),
                    ],
                ),
            ],
        ),
    ]
    for operation, params in more:
        answers.append((operation, params, await soap.call(operation, params)))

    problems: list[str] = []
    covered = set()
    for operation, params, answer in answers:
        covered.add(operation)
        request = ET.fromstring(envelope(operation, params)).find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]  # noqa: S314 - the sandbox's own answer
        problems += check(schema, request, schema.elements[operation], f"request {operation}")
        assert answer.status_code == 200, operation
        response = answer.response
        assert local(response) == f"{operation}Response"
        problems += check(schema, response, schema.elements[f"{operation}Response"], operation)
    assert set(EMULATED) <= covered
    assert problems == []
