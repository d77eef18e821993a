"""GET /Reports/AgedReceivablesByContact: Xero's layout checked against its spec, the figures
against the sandbox's ledger (per aging bucket, net of credit, as at the report date), and
Xero's own SDK reading it over HTTP."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

from xero_python.accounting import ReportWithRows

from duely.sandbox.xero.ledger import Ledger
from duely.sandbox.xero.store import CREDIT_NOTE, AllocationRequest, PaymentRequest
from tests.sandbox.conftest import API
from tests.sandbox.sdk_helpers import sdk  # noqa: F401 - a fixture
from tests.sandbox.test_contract import exchange
from tests.sandbox.xero_contract import assert_request_matches_spec

REPORT = f"{API}/Reports/AgedReceivablesByContact"
HEADER = ["Date", "Number", "Due Date", "", "Total", "Paid", "Credited", "Due"]


def busiest_contact(tenant: Ledger) -> str:
    """The GBP customer with the most open sales invoices."""
    counts = Counter(
        i.contact_id
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == "AUTHORISED" and i.currency == "GBP"
    )
    return counts.most_common(1)[0][0]


def bucket_of_days(days: int) -> str:
    if days <= 0:
        return "current"
    return "1-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "91+"


def bucket_of_cell(text: str) -> str:
    return bucket_of_days(int(text.split()[0])) if text else "current"


def rows_of(report: dict) -> tuple[list, list, list, list]:
    header, opening, body, closing = report["Rows"]
    return header["Cells"], opening["Rows"], body["Rows"], closing["Rows"]


async def report(client, auth, **params) -> dict:
    answer = await exchange(client, "GET", REPORT, auth, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["Reports"][0]


async def test_the_report_totals_each_bucket_net_of_credit(client, auth, tenant, xero):
    contact_id = busiest_contact(tenant)
    today = xero.clock.today()
    invoice = next(
        i
        for i in tenant.invoices.values()
        if i.contact_id == contact_id and i.status == "AUTHORISED" and i.kind == "ACCREC"
    )
    note = xero.store.create_credit_note(tenant.tenant_id, contact_id, "25.00")
    xero.store.allocate(
        tenant.tenant_id,
        CREDIT_NOTE,
        note.credit_note_id,
        AllocationRequest(invoice.invoice_id, None, "10.00", today),
    )

    body = await report(client, auth, contactId=contact_id, date=today.isoformat())

    assert body["ReportType"] == "AgedReceivablesByContact"
    assert body["ReportTitles"][:2] == ["Invoices", tenant.contacts[contact_id].name]
    assert body["ReportDate"] == f"{today.day} {today:%B %Y}"
    header, opening, rows, closing = rows_of(body)
    assert [c["Value"] for c in header] == HEADER
    assert opening[0]["Cells"][1]["Value"] == "Opening Balance"
    assert opening[0]["Cells"][-1]["Value"] == "0.00"
    lines, summary = rows[:-1], rows[-1]
    assert summary["RowType"] == "SummaryRow" and summary["Cells"][0]["Value"] == "Total"

    expected: dict[str, int] = defaultdict(int)
    for i in tenant.invoices.values():
        if i.contact_id == contact_id and i.kind == "ACCREC" and i.status == "AUTHORISED":
            expected[bucket_of_days((today - i.due_date).days)] += i.amount_due
    credits = (*tenant.credit_notes.values(), *tenant.overpayments.values())
    for credit in (*credits, *tenant.prepayments.values()):
        if credit.contact_id == contact_id and credit.status == "AUTHORISED":
            expected["current"] -= credit.remaining
    shown: dict[str, int] = defaultdict(int)
    for line in lines:
        cells = [c["Value"] for c in line["Cells"]]
        shown[bucket_of_cell(cells[3])] += round(Decimal(cells[7]) * 100)
        assert line["Cells"][0]["Attributes"][0]["Id"] in ("invoiceID", "creditNoteID")
    assert dict(shown) == {k: v for k, v in expected.items() if v}
    net = sum(expected.values())
    assert summary["Cells"][7]["Value"] == f"{net / 100:.2f}"
    assert closing[0]["Cells"][0]["Value"] == "Closing Balance"
    assert closing[0]["Cells"][7]["Value"] == f"{net / 100:.2f}"

    credited = next(r for r in lines if r["Cells"][1]["Value"] == invoice.number)
    values = [c["Value"] for c in credited["Cells"]]
    assert values[6] == f"{invoice.amount_credited / 100:.2f}"
    assert values[7] == f"{invoice.amount_due / 100:.2f}"
    assert credited["Cells"][0]["Attributes"] == [{"Value": invoice.invoice_id, "Id": "invoiceID"}]
    credit_row = next(r for r in lines if r["Cells"][1]["Value"] == note.number)
    assert [c["Value"] for c in credit_row["Cells"]][4:] == ["-25.00", "0.00", "-10.00", "-15.00"]


async def test_the_report_is_as_at_its_date(client, auth, tenant, xero):
    contact_id = busiest_contact(tenant)
    invoice = next(
        i
        for i in tenant.invoices.values()
        if i.contact_id == contact_id
        and i.status == "AUTHORISED"
        and i.kind == "ACCREC"
        and not i.amount_paid
        and i.date < xero.clock.today() - timedelta(days=2)
    )
    paid_on = xero.clock.today() - timedelta(days=1)
    xero.store.record_payment(
        tenant.tenant_id,
        PaymentRequest(invoice.invoice_id, None, None, "090", paid_on, invoice.amount_due / 100),
    )
    assert invoice.status == "PAID"

    def line_of(body: dict) -> list[str] | None:
        _, _, rows, _ = rows_of(body)
        for row in rows[:-1]:
            if row["Cells"][1]["Value"] == invoice.number:
                return [c["Value"] for c in row["Cells"]]
        return None

    now = await report(client, auth, contactId=contact_id, date=xero.clock.today().isoformat())
    assert line_of(now) is None  # paid off by then
    before = await report(
        client, auth, contactId=contact_id, date=(paid_on - timedelta(1)).isoformat()
    )
    values = line_of(before)
    assert values is not None and values[5] == "0.00"
    assert values[7] == f"{invoice.total / 100:.2f}"
    assert before["ReportTitles"][3] == f"Showing payments to {(paid_on - timedelta(1)):%-d %B %Y}"


async def test_older_invoices_make_the_opening_balance(client, auth, tenant, xero):
    contact_id = busiest_contact(tenant)
    today = xero.clock.today()
    full = await report(client, auth, contactId=contact_id, date=today.isoformat())
    _, _, rows, _ = rows_of(full)
    dates = sorted(date.fromisoformat(r["Cells"][0]["Value"][:10]) for r in rows[:-1])
    cut = dates[len(dates) // 2]
    later = await report(
        client, auth, contactId=contact_id, date=today.isoformat(), fromDate=cut.isoformat()
    )
    _, opening, later_rows, closing = rows_of(later)
    before_cut = [r for r in rows[:-1] if r["Cells"][0]["Value"][:10] < cut.isoformat()]
    assert len(later_rows) - 1 == len(rows) - 1 - len(before_cut)
    opening_due = sum(Decimal(r["Cells"][7]["Value"]) for r in before_cut)
    assert Decimal(opening[0]["Cells"][7]["Value"]) == opening_due
    assert opening[0]["Cells"][0]["Value"] == f"{cut.isoformat()}T00:00:00"
    assert closing[0]["Cells"][7]["Value"] == rows[-1]["Cells"][7]["Value"]
    assert later["ReportTitles"][2] == f"From {cut:%-d %B %Y} to {today:%-d %B %Y}"


async def test_refusals(client, auth):
    assert_request_matches_spec(
        "GET", REPORT, {"contactId": "0" * 8 + "-0000-4000-8000-" + "0" * 12}, auth
    )
    unknown = await client.get(
        REPORT, params={"contactId": "00000000-0000-4000-8000-000000000000"}, headers=auth
    )
    assert unknown.status_code == 404
    missing = await client.get(REPORT, headers=auth)
    assert missing.status_code == 400 and missing.json()["Type"] == "ValidationException"


async def test_the_sdk_reads_the_report(sdk, tenant, xero):  # noqa: F811
    contact_id = busiest_contact(tenant)
    today = xero.clock.today()
    answer = await sdk.call(
        sdk.accounting.get_report_aged_receivables_by_contact, contact_id, date=today
    )
    assert isinstance(answer, ReportWithRows)
    report = answer.reports[0]
    assert report.report_type == "AgedReceivablesByContact"
    assert report.report_titles[1] == tenant.contacts[contact_id].name
    header, opening, body, closing = report.rows
    assert header.row_type.value == "Header"
    assert [c.value for c in header.cells] == HEADER
    assert [r.row_type.value for r in body.rows][-1] == "SummaryRow"
    owed = sum(
        i.amount_due
        for i in tenant.invoices.values()
        if i.contact_id == contact_id and i.status == "AUTHORISED" and i.kind == "ACCREC"
    )
    unused = sum(
        c.remaining
        for c in (
            *tenant.credit_notes.values(),
            *tenant.overpayments.values(),
            *tenant.prepayments.values(),
        )
        if c.contact_id == contact_id and c.status == "AUTHORISED"
    )
    assert closing.rows[0].cells[7].value == f"{(owed - unused) / 100:.2f}"
    first = body.rows[0]
    assert first.cells[0].attributes[0].id in ("invoiceID", "creditNoteID")
    assert report.updated_date_utc is not None
