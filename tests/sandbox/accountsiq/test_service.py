"""The AccountsIQ sandbox over real HTTP: raw SOAP 1.1 envelopes to the region's ASMX."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from duely.sandbox import create_sandbox_app
from duely.sandbox.accountsiq import AccountsIQSandbox
from duely.sandbox.accountsiq.company import Company
from duely.sandbox.accountsiq.seed import DEMO_BANK_ACCOUNT_CODE
from tests.sandbox.accountsiq.conftest import (
    COMPANY_ID,
    REGION,
    SOAP,
    TNS,
    USER_KEY,
    SoapClient,
    envelope,
    tag,
)
from tests.serving import serve, shut

# --- Login and sessions --------------------------------------------------------------------


async def test_login_works_in_the_company_region_only(soap: SoapClient):
    assert await soap.login()
    for region in ("us1", "eu2", "uk1"):
        assert await soap.login(region=region) is None


async def test_login_refuses_bad_keys_and_does_not_trim(soap: SoapClient):
    assert await soap.login(user_key="not-the-key") is None
    assert await soap.login(partner_key="unknown-partner") is None
    assert await soap.login(company_id="nosuchcompany") is None
    assert await soap.login(user_key=f" {USER_KEY}") is None
    assert await soap.login(user_key=f"{USER_KEY} ") is None
    assert await soap.login(company_id=f"{COMPANY_ID} ") is None


async def test_failed_login_answers_no_login_result(soap: SoapClient):
    answer = await soap.call("Login", [("companyID", COMPANY_ID), ("partnerKey", "x")])
    assert answer.status_code == 200
    assert list(answer.response) == []


async def test_a_revoked_user_key_neither_logs_in_nor_keeps_its_sessions(
    soap: SoapClient, http: httpx.AsyncClient, token: str
):
    revoked = await http.post(
        f"/accountsiq/admin/companies/{COMPANY_ID}/user-keys/{USER_KEY}/revoke"
    )
    assert revoked.status_code == 201 or revoked.status_code == 200
    assert await soap.login() is None
    answer = await soap.call("GetBankList", [("token", token)])
    assert answer.outcome == ("Failure", "WS_INVALIDTOKEN", "true")


async def test_a_session_lasts_20_minutes_of_sandbox_clock(
    soap: SoapClient, accountsiq: AccountsIQSandbox, token: str
):
    accountsiq.clock.advance(19 * 60 + 50)
    answer = await soap.call("GetBankList", [("token", token)])
    assert answer.outcome == ("Success", "SUCCESS", "false")
    accountsiq.clock.advance(10)
    answer = await soap.call("GetBankList", [("token", token)])
    assert answer.outcome == ("Failure", "WS_INVALIDTOKEN", "true")
    assert answer.result.find(tag("Result")) is None
    assert await soap.login()


async def test_an_unknown_token_or_another_region_is_expired(soap: SoapClient, token: str):
    for bad, region in (("0" * 32, REGION), (token, "uk1"), ("", REGION)):
        answer = await soap.call("GetCustomerList", [("token", bad)], region)
        assert answer.outcome == ("Failure", "WS_INVALIDTOKEN", "true")


async def test_admin_expires_sessions(soap: SoapClient, http: httpx.AsyncClient, token: str):
    ended = await http.post("/accountsiq/admin/sessions/expire", json={"company_id": COMPANY_ID})
    assert ended.json() == {"expired": 1}
    answer = await soap.call("GetBankList", [("token", token)])
    assert answer.value("HasExpired") == "true"


# --- reading ---------------------------------------------------------------------------------


async def test_customers_have_upper_case_codes_and_emails(
    soap: SoapClient, token: str, company: Company
):
    rows = (await soap.call("GetCustomerList", [("token", token)])).rows("Customer")
    assert len(rows) == len(company.customers)
    assert all(r["Code"] == (r["Code"] or "").upper() and r["Email"] for r in rows)


def _query(**fields: str) -> list:
    dates = [("FromDate", "0001-01-01T00:00:00"), ("ToDate", "0001-01-01T00:00:00")]
    dates += [("FromCreationDate", "0001-01-01T00:00:00")]
    dates += [("ToCreationDate", "0001-01-01T00:00:00")]
    skip = [("Skip", fields.pop("Skip", "0"))]
    rest = [(k, v) for k, v in fields.items() if k != "FromLastModifiedDateInUTC"]
    since = fields.get("FromLastModifiedDateInUTC")
    last = [("FromLastModifiedDateInUTC", since)] if since else []
    return [*dates, *skip, *rest, *last]


async def test_get_invoices_by_pages_with_skip_and_limit(
    soap: SoapClient, token: str, company: Company
):
    seen: list[str] = []
    skip = 0
    while True:
        query = _query(Skip=str(skip), Limit="25")
        rows = (await soap.call("GetInvoicesBy", [("token", token), ("query", query)])).rows(
            "Invoice"
        )
        seen += [r["InvoiceID"] or "" for r in rows]
        if len(rows) < 25:
            break
        skip += 25
    expected = sorted(i.invoice_id for i in company.invoices)
    assert [int(i) for i in seen] == expected


async def test_get_invoices_by_from_last_modified_is_inclusive(
    soap: SoapClient, http: httpx.AsyncClient, token: str, company: Company, accountsiq
):
    accountsiq.clock.advance(3600)
    since = accountsiq.clock.now()
    token = await soap.login()  # the first session ended after 20 minutes
    target = company.invoices[5]
    changed = await http.patch(
        f"/accountsiq/admin/companies/{COMPANY_ID}/invoices/{target.invoice_id}",
        json={"due_date": "2031-01-31"},
    )
    assert changed.status_code == 200
    stamp = changed.json()["last_modified"]
    query = _query(FromLastModifiedDateInUTC=stamp)
    answer = await soap.call("GetInvoicesBy", [("token", token), ("query", query)])
    rows = answer.rows("Invoice")
    assert [r["InvoiceID"] for r in rows] == [str(target.invoice_id)]
    assert rows[0]["DueDate"] == "2031-01-31T00:00:00"
    assert rows[0]["LastModifiedUTC"] == stamp
    later = (since + timedelta(hours=1)).isoformat()
    answer = await soap.call(
        "GetInvoicesBy", [("token", token), ("query", _query(FromLastModifiedDateInUTC=later))]
    )
    assert answer.rows("Invoice") == []


async def test_get_invoices_by_refuses_an_unknown_order(soap: SoapClient, token: str):
    query = _query(OrderBy="Colour")
    answer = await soap.call("GetInvoicesBy", [("token", token), ("query", query)])
    assert answer.outcome == ("Failure", "INVALID_QUERY", "false")


async def test_get_invoice_and_by_customer_code(soap: SoapClient, token: str, company: Company):
    invoice = company.invoices[0]
    answer = await soap.call(
        "GetInvoice", [("token", token), ("invoiceID", str(invoice.invoice_id))]
    )
    assert answer.outcome[0] == "Success"
    assert (
        answer.result.find(f"{tag('Result')}/{tag('InvoiceNumber')}").text == invoice.invoice_number
    )
    missing = await soap.call("GetInvoice", [("token", token), ("invoiceID", "1")])
    assert missing.outcome == ("Failure", "INVOICE_ID_DOES_NOT_EXIST", "false")
    customer = company.customer_by_id(invoice.account_id)
    assert customer is not None
    rows = (
        await soap.call(
            "GetInvoicesByCustomerCode", [("token", token), ("customerCode", customer.code)]
        )
    ).rows("Invoice")
    assert {r["AccountCode"] for r in rows} == {customer.code}
    unknown = await soap.call(
        "GetInvoicesByCustomerCode", [("token", token), ("customerCode", "NOPE")]
    )
    assert unknown.outcome == ("Failure", "CUSTOMER_CODE_DOES_NOT_EXIST", "false")


# --- receipts and allocations ------------------------------------------------------------------


def _open_invoice(company: Company):
    return next(i for i in company.invoices if company.invoice_outstanding(i) == i.gross)


def _receipt(code: str, amount: str, reference: str, bank: str = DEMO_BANK_ACCOUNT_CODE) -> list:
    return [
        ("CustomerCode", code),
        ("CheckReference", reference),
        ("PaymentAmount", amount),
        ("BankAccountCode", bank),
        ("PaymentDate", "2026-01-15T00:00:00"),
        ("ExchangeRate", "1"),
        ("BankExchangeRate", "1"),
    ]


async def _outstanding(soap: SoapClient, token: str, code: str, transaction_id: int) -> str:
    answer = await soap.call(
        "GetCustomersStatement",
        [
            ("token", token),
            ("upTo", "2099-12-31T00:00:00"),
            ("customerCodes", [("string", code)]),
            ("showZeros", "true"),
        ],
    )
    assert answer.outcome[0] == "Success"
    for state in answer.result.iter(tag("TransactionState")):
        if state.findtext(tag("TransactionReference")) == str(transaction_id):
            return state.findtext(tag("OutstandingAmount")) or ""
    return "0.00"


async def test_a_receipt_allocated_lowers_the_invoice_outstanding(
    soap: SoapClient, token: str, company: Company
):
    invoice = _open_invoice(company)
    code = company.customer_by_id(invoice.account_id).code  # type: ignore[union-attr]
    before = await _outstanding(soap, token, code, invoice.transaction_id)
    assert before == f"{invoice.gross / 100:.2f}"
    saved = await soap.call(
        "SaveSalesReceiptGetBackTransactionID",
        [("token", token), ("salesReceipt", _receipt(code, "10.00", "duely-pay-1"))],
    )
    assert saved.outcome == ("Success", "SUCCESS", "false")
    receipt_id = saved.response.findtext(tag("transactionID"))
    assert receipt_id and int(receipt_id) > 0
    allocated = await soap.call(
        "AllocateTransactions",
        [
            ("token", token),
            ("transactionID_1", receipt_id),
            ("transactionID_2", str(invoice.transaction_id)),
            ("allocationReference", "duely-pay-1"),
            ("allocationAmount", "10.00"),
            ("allocationDate", "2026-01-15T00:00:00"),
        ],
    )
    assert allocated.outcome == ("Success", "SUCCESS", "false")
    after = await _outstanding(soap, token, code, invoice.transaction_id)
    assert after == f"{(invoice.gross - 1000) / 100:.2f}"
    too_much = await soap.call(
        "AllocateTransactions",
        [
            ("token", token),
            ("transactionID_1", str(invoice.transaction_id)),
            ("transactionID_2", receipt_id),
            ("allocationReference", "again"),
            ("allocationAmount", "0.01"),
            ("allocationDate", "2026-01-15T00:00:00"),
        ],
    )
    assert too_much.outcome == (
        "Failure",
        "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION",
        "false",
    )


async def test_allocating_more_than_outstanding_is_refused(
    soap: SoapClient, token: str, company: Company
):
    invoice = _open_invoice(company)
    code = company.customer_by_id(invoice.account_id).code  # type: ignore[union-attr]
    big = f"{(invoice.gross + 10000) / 100:.2f}"
    saved = await soap.call(
        "SaveSalesReceiptGetBackTransactionID",
        [("token", token), ("salesReceipt", _receipt(code, big, "big-1"))],
    )
    receipt_id = saved.response.findtext(tag("transactionID")) or ""
    answer = await soap.call(
        "AllocateTransactions",
        [
            ("token", token),
            ("transactionID_1", receipt_id),
            ("transactionID_2", str(invoice.transaction_id)),
            ("allocationReference", "big-1"),
            ("allocationAmount", big),
            ("allocationDate", "2026-01-15T00:00:00"),
        ],
    )
    assert answer.outcome == (
        "Failure",
        "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT",
        "false",
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"CustomerCode": "NOSUCH001"}, "CUSTOMER_CODE_DOES_NOT_EXIST"),
        ({"CustomerCode": "lower001"}, "ACCOUNT_CODE_MUST_BE_UPPER_CASE"),
        ({"PaymentAmount": "0"}, "PAYMENT_AMOUNT_CANNOT_BE_ZERO"),
        ({"PaymentAmount": "-5.00"}, "PAYMENT_AMOUNT_CANNOT_BE_NEGATIVE"),
        ({"BankAccountCode": "NOBANK"}, "BANK_ACCOUNT_DOES_NOT_EXIST"),
        ({"CheckReference": ""}, "CHECK_REFERENCE_IS_EMPTY"),
    ],
)
async def test_a_receipt_the_service_refuses(
    soap: SoapClient, token: str, company: Company, change: dict, code: str
):
    fields = dict(_receipt(company.customers[0].code, "5.00", "r-1"))
    fields.update(change)
    answer = await soap.call(
        "SaveSalesReceiptGetBackTransactionID",
        [("token", token), ("salesReceipt", list(fields.items()))],
    )
    assert answer.outcome == ("Failure", code, "false")
    assert answer.response.findtext(tag("transactionID")) == "0"
    assert not [r for r in company.receipts if r.check_reference == "r-1"]


async def test_a_receipt_is_found_by_its_reference(soap: SoapClient, token: str, company: Company):
    code = company.customers[1].code
    query = [("ExternalReference", "duely-find-me"), ("FromDate", "2026-01-01T00:00:00")]
    query += [("ToDate", "2026-12-31T00:00:00")]
    nothing = await soap.call(
        "GetTransactionsByExternalReference", [("token", token), ("query", query)]
    )
    assert nothing.outcome[0] == "Success"
    assert nothing.rows("WSTransactionSummary") == []
    saved = await soap.call(
        "SaveSalesReceiptGetBackTransactionID",
        [("token", token), ("salesReceipt", _receipt(code, "12.34", "duely-find-me"))],
    )
    receipt_id = saved.response.findtext(tag("transactionID"))
    found = await soap.call(
        "GetTransactionsByExternalReference", [("token", token), ("query", query)]
    )
    rows = found.rows("WSTransactionSummary")
    assert [(r["TransactionID"], r["TransactionType"], r["ControlAmount"]) for r in rows] == [
        (receipt_id, "SalesReceipt", "-12.34")
    ]
    assert rows[0]["AccountCode"] == code and rows[0]["OutstandingAmount"] == "-12.34"
    missing = await soap.call(
        "GetTransactionsByExternalReference", [("token", token), ("query", query[1:])]
    )
    assert missing.outcome == ("Failure", "INVALID_QUERY_MISSING_EXTERNAL_REFERENCE", "false")


async def test_post_pay_and_allocate_reports_a_duplicate_as_conflicted(
    soap: SoapClient, token: str, company: Company
):
    code = company.customers[2].code
    query = [
        ("PerformExternalReferenceDuplicateCheckOnInvoice", "true"),
        ("PerformExternalReferenceDuplicateCheckOnReceipt", "true"),
        (
            "BatchInvoice",
            [
                ("CustomerCode", code),
                ("InvoiceDate", "2026-02-01T00:00:00"),
                ("ExternalReference", "POS-1"),
                (
                    "Lines",
                    [
                        (
                            "BatchSalesInvoiceLine",
                            [("NetAmount", "100.00"), ("TaxRate", "0"), ("TaxAmount", "0")],
                        )
                    ],
                ),
                ("ExchangeRate", "1"),
            ],
        ),
        ("Receipt", _receipt(code, "100.00", "POS-1-PAY")),
        ("PerformAllocation", "true"),
        ("AllocationDate", "2026-02-01T00:00:00"),
        ("AllocationAmount", "100.00"),
        ("AllocationReference", "POS-1"),
        ("ClientUniqueReference", "client-1"),
        ("EnforceCreditLimit", "false"),
    ]
    first = await soap.call("PostPayAndAllocateSalesInvoice", [("token", token), ("query", query)])
    assert first.outcome == ("Success", "SUCCESS", "false")
    result = first.result.find(tag("Result"))
    assert result is not None and result.findtext(tag("ClientUniqueReference")) == "client-1"
    again = await soap.call("PostPayAndAllocateSalesInvoice", [("token", token), ("query", query)])
    assert again.outcome == ("Conflicted", "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS", "false")
    assert len([i for i in company.invoices if i.external_reference == "POS-1"]) == 1


# --- faults, envelopes ---------------------------------------------------------------------------


def _fault(response: httpx.Response) -> tuple[str, str]:
    import xml.etree.ElementTree as ET  # noqa: N817

    assert response.status_code == 500
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    fault = ET.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")  # noqa: S314 - the sandbox's own answer
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


async def test_a_malformed_envelope_is_a_soap_fault(soap: SoapClient):
    code, text = _fault(await soap.post("GetBankList", b"<soap:Envelope><unclosed"))
    assert code == "soap:Client" and "unable to read request" in text
    code, _ = _fault(await soap.post("GetBankList", b"<root/>"))
    assert code == "soap:Client"


async def test_an_unknown_operation_is_a_soap_fault(soap: SoapClient):
    code, text = _fault(await soap.post("Frobnicate", envelope("Frobnicate", [])))
    assert code == "soap:Client" and "SOAPAction" in text
    code, _ = _fault(
        await soap.post("GetBankList", envelope("GetBankList", []), action="urn:other/GetBankList")
    )
    assert code == "soap:Client"


async def test_an_unknown_region_has_no_host(http: httpx.AsyncClient):
    response = await http.post(
        "/accountsiq/au1/system/dashboard/integration/integration_1_1.asmx",
        content=envelope("Login", []),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}Login"'},
    )
    assert response.status_code == 404


async def test_fault_injection_500_and_drop(
    soap: SoapClient, http: httpx.AsyncClient, token: str, company: Company
):
    rules = {"rules": [{"path_contains": "integration_1_1", "remaining": 1, "fail_with": "500"}]}
    assert (await http.put("/accountsiq/admin/faults", json=rules)).status_code == 200
    code, _ = _fault(await soap.post("GetBankList", envelope("GetBankList", [("token", token)])))
    assert code == "soap:Server"
    assert (await soap.call("GetBankList", [("token", token)])).outcome[0] == "Success"
    drop = {"rules": [{"region": REGION, "remaining": 1, "fail_with": "drop"}]}
    assert (await http.put("/accountsiq/admin/faults", json=drop)).status_code == 200
    receipt = _receipt(company.customers[0].code, "1.00", "dropped-1")
    with pytest.raises(httpx.HTTPError):
        await soap.call(
            "SaveSalesReceiptGetBackTransactionID", [("token", token), ("salesReceipt", receipt)]
        )
    assert [r.check_reference for r in company.receipts].count("dropped-1") == 1
    no_429 = {"rules": [{"rate_429": 1.0}]}
    assert (await http.put("/accountsiq/admin/faults", json=no_429)).status_code == 400


async def test_state_survives_a_restart(tmp_path: Path):
    path = tmp_path / "accountsiq.json"
    first = AccountsIQSandbox.with_demo(snapshot_path=path)
    served = await serve(create_sandbox_app(accountsiq=first))
    try:
        async with httpx.AsyncClient(base_url=served.url) as http:
            soap = SoapClient(http)
            token = await soap.login(
                "duelydemo",
                "duely-demo-accountsiq-user-key",
                "eu1",
                "duely-demo-accountsiq-partner-key",
            )
            assert token
            code = first.store.companies["duelydemo"].customers[0].code
            saved = await soap.call(
                "SaveSalesReceiptGetBackTransactionID",
                [("token", token), ("salesReceipt", _receipt(code, "7.00", "kept-1"))],
            )
            assert saved.outcome[0] == "Success"
    finally:
        await shut(served)
    assert path.exists()
    second = AccountsIQSandbox.with_demo(snapshot_path=path)
    company = second.store.companies["duelydemo"]
    assert [r.amount for r in company.receipts if r.check_reference == "kept-1"] == [700]
    assert len(company.invoices) == len(first.store.companies["duelydemo"].invoices)


def test_seeding_is_deterministic():
    one = AccountsIQSandbox().add_company("A", 40, seed=3)
    two = AccountsIQSandbox().add_company("A", 40, seed=3)
    assert [(i.invoice_number, i.gross, i.due_date.isoformat()) for i in one.invoices] == [
        (i.invoice_number, i.gross, i.due_date.isoformat()) for i in two.invoices
    ]
    assert one.company_id == two.company_id
