"""Fixtures for the AccountsIQ sandbox: a sandbox with the test partner key and one seeded
company in eu1, served by uvicorn on a loopback socket, and a SOAP client over httpx that
builds and reads envelopes with ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: N817
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from duely.sandbox import create_sandbox_app
from duely.sandbox.accountsiq import AccountsIQSandbox
from duely.sandbox.accountsiq.company import Company
from tests.serving import Served, serve, shut

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PARTNER_KEY = "test-partner-key"
USER_KEY = "test-user-key-0001"
COMPANY_ID = "acmetest"
REGION = "eu1"

Param = tuple[str, "str | Sequence[Param] | None"]


def asmx(region: str = REGION) -> str:
    return f"/accountsiq/{region}/system/dashboard/integration/integration_1_1.asmx"


def envelope(operation: str, params: Sequence[Param]) -> bytes:
    root = ET.Element(f"{{{SOAP}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP}}}Body")
    _fill(ET.SubElement(body, f"{{{TNS}}}{operation}"), params)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _fill(parent: ET.Element, params: Sequence[Param]) -> None:
    for name, value in params:
        element = ET.SubElement(parent, f"{{{TNS}}}{name}")
        if isinstance(value, str):
            element.text = value
        elif value is not None:
            _fill(element, value)


def tag(name: str) -> str:
    return f"{{{TNS}}}{name}"


def local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


@dataclass
class Answer:
    status_code: int
    root: ET.Element
    operation: str

    @property
    def response(self) -> ET.Element:
        found = self.root.find(f"{{{SOAP}}}Body/{tag(self.operation + 'Response')}")
        assert found is not None, ET.tostring(self.root)
        return found

    @property
    def result(self) -> ET.Element:
        found = self.response.find(tag(self.operation + "Result"))
        assert found is not None
        return found

    def value(self, name: str) -> str | None:
        found = self.result.find(tag(name))
        return None if found is None else found.text

    @property
    def outcome(self) -> tuple[str | None, str | None, str | None]:
        return self.value("Status"), self.value("ErrorCode"), self.value("HasExpired")

    def rows(self, item: str) -> list[dict[str, str | None]]:
        result = self.result.find(tag("Result"))
        if result is None:
            return []
        return [{local(c): c.text for c in row} for row in result.findall(tag(item))]


class SoapClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, operation: str, body: bytes, region: str = REGION, action: str | None = None
    ) -> httpx.Response:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{action if action is not None else TNS + operation}"',
        }
        return await self.http.post(asmx(region), content=body, headers=headers)

    async def call(self, operation: str, params: Sequence[Param], region: str = REGION) -> Answer:
        response = await self.post(operation, envelope(operation, params), region)
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        return Answer(response.status_code, ET.fromstring(response.content), operation)  # noqa: S314 - the sandbox's own answer

    async def login(
        self,
        company_id: str = COMPANY_ID,
        user_key: str = USER_KEY,
        region: str = REGION,
        partner_key: str = PARTNER_KEY,
    ) -> str | None:
        params = [("companyID", company_id), ("partnerKey", partner_key), ("userKey", user_key)]
        answer = await self.call("Login", params, region)
        assert answer.status_code == 200
        found = answer.response.find(tag("LoginResult"))
        return None if found is None else found.text


@pytest.fixture
def accountsiq() -> AccountsIQSandbox:
    sandbox = AccountsIQSandbox(fault_seed=1)
    sandbox.add_partner_key(PARTNER_KEY)
    sandbox.add_company(
        "Acme Trading Ltd", 60, seed=7, region=REGION, company_id=COMPANY_ID, user_key=USER_KEY
    )
    return sandbox


@pytest.fixture
def company(accountsiq: AccountsIQSandbox) -> Company:
    return accountsiq.store.companies[COMPANY_ID]


@pytest_asyncio.fixture
async def server(accountsiq: AccountsIQSandbox) -> AsyncIterator[Served]:
    served = await serve(create_sandbox_app(accountsiq=accountsiq))
    try:
        yield served
    finally:
        await shut(served)


@pytest_asyncio.fixture
async def http(server: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def soap(http: httpx.AsyncClient) -> SoapClient:
    return SoapClient(http)


@pytest_asyncio.fixture
async def token(soap: SoapClient) -> str:
    value = await soap.login()
    assert value
    return value
