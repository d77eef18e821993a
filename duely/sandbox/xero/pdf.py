"""A small, valid PDF of an invoice, written by hand (PDF 1.4, one page, Helvetica).

Enough for a customer portal's "download invoice" link: number, dates, customer, the line,
totals and what is still due. Offsets in the cross-reference table are computed, so any PDF
reader opens it.
"""

from __future__ import annotations

from duely.sandbox.xero.ledger import Invoice, Ledger
from duely.sandbox.xero.money import decimals


def _money(minor: int, currency: str) -> str:
    places = decimals(currency)
    return f"{currency} {minor / 10**places:,.{places}f}"


def _escape(text: str) -> str:
    """A PDF literal string body: Latin-1 only, with its three special characters escaped."""
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _lines(ledger: Ledger, invoice: Invoice) -> list[tuple[int, str]]:
    """(font size, text) rows from the top of the page down."""
    contact = ledger.contacts.get(invoice.contact_id)
    currency = invoice.currency
    title = "TAX INVOICE" if invoice.kind == "ACCREC" else "BILL"
    return [
        (20, title),
        (12, ledger.organisation.name),
        (10, ""),
        (11, f"Invoice number: {invoice.number}"),
        (11, f"Reference: {invoice.reference or '-'}"),
        (11, f"Invoice date: {invoice.date:%d %b %Y}"),
        (11, f"Due date: {invoice.due_date:%d %b %Y}"),
        (11, f"To: {contact.name if contact else ''}"),
        (10, ""),
        (11, f"{invoice.description or 'Services'}: {_money(invoice.sub_total, currency)}"),
        (11, f"Tax: {_money(invoice.total_tax, currency)}"),
        (12, f"Total: {_money(invoice.total, currency)}"),
        (11, f"Paid: {_money(invoice.amount_paid, currency)}"),
        (11, f"Credited: {_money(invoice.amount_credited, currency)}"),
        (14, f"Amount due: {_money(invoice.amount_due, currency)}"),
        (9, f"Status: {invoice.status}"),
    ]


def invoice_pdf(ledger: Ledger, invoice: Invoice) -> bytes:
    rows, y = [], 780
    for size, text in _lines(ledger, invoice):
        rows.append(f"BT /F1 {size} Tf 56 {y} Td ({_escape(text)}) Tj ET")
        y -= size + 10
    stream = "\n".join(rows).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        f"<< /Title ({_escape(invoice.number)}) /Producer (duely Xero sandbox) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
