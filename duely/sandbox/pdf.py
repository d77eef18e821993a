"""A small, valid one-page PDF written by hand (PDF 1.4, Helvetica), shared by the ledger
sandboxes' invoice PDFs.

Offsets in the cross-reference table are computed, so any PDF reader opens it.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """A PDF literal string body: Latin-1 only, with its three special characters escaped."""
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def one_page_pdf(rows: list[tuple[int, str]], title: str, producer: str) -> bytes:
    """A page of (font size, text) rows from the top down, with a title and producer."""
    lines, y = [], 780
    for size, text in rows:
        lines.append(f"BT /F1 {size} Tf 56 {y} Td ({escape(text)}) Tj ET")
        y -= size + 10
    stream = "\n".join(lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        f"<< /Title ({escape(title)}) /Producer ({escape(producer)}) >>".encode(),
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
