"""Importing a spreadsheet of customers or invoices (issue 16): keep the upload, check every
row before anything is written, write the good rows once a person confirms, and remember the
columns they confirmed for the organisation's next file.

What confirmed imports say is the organisation's own small ledger (SheetCustomer,
SheetInvoice); duely syncs from it like from any ledger (integrations/ledgers/spreadsheet), so
chasing starts from the sync that follows an import. Writing is an upsert on the customer's
code or the invoice's number: importing the same file again changes nothing, and a later file
that says an invoice is paid or voided (or owes less) updates it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.money import format_money
from duely.models import (
    ColumnChoice,
    Connection,
    ImportKind,
    ImportProblem,
    ImportStatus,
    InvoiceStatus,
    Organisation,
    Provider,
    SheetCustomer,
    SheetInvoice,
    SheetReceipt,
    SpreadsheetImport,
    saved_id,
    utcnow,
)
from duely.spreadsheets import (
    Checked,
    ImportedCustomer,
    ImportedInvoice,
    Sheet,
    UnreadableFile,
    guess_mapping,
    infer_date_order,
    missing_required,
    open_sheet,
    validate_customers,
    validate_invoices,
)
from duely.spreadsheets.columns import kind_of

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
KEPT_PROBLEMS = 5_000
"""Problems kept to show; all are counted."""
CHUNK = 500
"""Rows written per transaction, and how often progress is told."""
CONNECTION_NAME = "Spreadsheet imports"
T = TypeVar("T")


class UploadRefused(Exception):
    """The upload cannot be kept (too large, no name): nothing was stored."""


@dataclass(frozen=True)
class Columns:
    """The file's headers and which one each field is read from."""

    headers: list[str]
    chosen: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"headers": self.headers, "columns": self.chosen})

    @classmethod
    def of(cls, stored: str) -> Columns:
        data = json.loads(stored or "{}")
        return cls(list(data.get("headers", [])), dict(data.get("columns", {})))


@dataclass(frozen=True)
class CheckOutcome:
    status: str
    rows_ok: int
    rows_bad: int


async def _off_the_loop(rows: Iterator[T], size: int = CHUNK) -> AsyncIterator[list[T]]:
    """`rows` a chunk at a time, each read in a worker thread: parsing a large file (CSV
    decoding, openpyxl, every cell checked) must not hold the worker's event loop, which
    also runs the chases' activities."""
    while chunk := await asyncio.to_thread(lambda: list(itertools.islice(rows, size))):
        yield chunk


# --- keeping the upload ------------------------------------------------------------------------


def uploads_dir(home: Path, organisation_id: int) -> Path:
    return home / "imports" / str(organisation_id)


async def spreadsheet_connection(session: AsyncSession, organisation_id: int) -> Connection:
    """The organisation's spreadsheet "ledger", made at its first import."""
    found = (
        await session.exec(
            select(Connection).where(
                Connection.organisation_id == organisation_id,
                Connection.provider == Provider.CSV,
            )
        )
    ).first()
    if found is not None:
        return found
    connection = Connection(
        organisation_id=organisation_id,
        provider=Provider.CSV,
        external_tenant_id=f"spreadsheets-{organisation_id}",
        tenant_name=CONNECTION_NAME,
    )
    session.add(connection)
    await session.commit()
    return connection


async def keep_upload(
    db: Database,
    home: Path,
    organisation_id: int,
    kind: str,
    filename: str,
    chunks: AsyncIterator[bytes],
    created_by: str,
) -> SpreadsheetImport:
    """Store the uploaded file as it streams in and record the import, to be checked."""
    if kind not in (ImportKind.CUSTOMERS, ImportKind.INVOICES):
        raise UploadRefused("Choose whether the file holds customers or invoices.")
    name = Path(filename or "").name
    if not name:
        raise UploadRefused("Choose a file to upload.")
    folder = uploads_dir(home, organisation_id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}{Path(name).suffix.lower()[:10]}"
    size = 0
    with stored.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                stored.unlink(missing_ok=True)
                raise UploadRefused(
                    f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it."
                )
            await asyncio.to_thread(out.write, chunk)
    if size == 0:
        stored.unlink(missing_ok=True)
        raise UploadRefused("The file is empty.")
    async with db.session() as session:
        connection = await spreadsheet_connection(session, organisation_id)
        upload = SpreadsheetImport(
            organisation_id=organisation_id,
            connection_id=saved_id(connection),
            kind=kind,
            filename=name[:255],
            stored_as=str(stored),
            created_by=created_by,
        )
        session.add(upload)
        await session.commit()
        return upload


# --- checking ------------------------------------------------------------------------------------


async def _remembered(session: AsyncSession, organisation_id: int, kind: str) -> dict[str, str]:
    choice = (
        await session.exec(
            select(ColumnChoice).where(
                ColumnChoice.organisation_id == organisation_id, ColumnChoice.kind == kind
            )
        )
    ).first()
    return dict(json.loads(choice.mapping)) if choice else {}


def _columns_for(
    sheet: Sheet, kind: str, chosen: dict[str, str], remembered: dict[str, str]
) -> tuple[Columns, dict[str, int]]:
    """The person's choice for this file, else the organisation's last confirmed columns when
    this file has them all, else duely's guess from the headers."""
    headers = sheet.headers
    if chosen:
        pick = chosen
    elif remembered and all(header in headers for header in remembered.values()):
        pick = remembered
    else:
        guessed = guess_mapping(headers, kind)
        pick = {field: headers[index] for field, index in guessed.items()}
    mapping = _indexes(pick, headers)
    return Columns(list(headers), {f: headers[i] for f, i in mapping.items()}), mapping


def _indexes(chosen: dict[str, str], headers: list[str]) -> dict[str, int]:
    """Each field's column position in this file, for the fields whose header it has."""
    return {field: headers.index(header) for field, header in chosen.items() if header in headers}


def _checked_rows(
    upload: SpreadsheetImport,
    sheet: Sheet,
    mapping: dict[str, int],
    known_codes: set[str],
    names: dict[str, str],
    base_currency: str,
) -> Iterator[Checked[Any]]:
    """One pass over the import's file, each row checked as its kind is."""
    if upload.kind == ImportKind.CUSTOMERS:
        return validate_customers(sheet, mapping)
    return validate_invoices(
        sheet,
        mapping,
        known_customer_codes=known_codes,
        base_currency=base_currency,
        date_order=upload.date_order or None,
        known_customer_names=names,
    )


async def _customers_known(
    session: AsyncSession, connection_id: int
) -> tuple[set[str], dict[str, str]]:
    rows = (
        await session.exec(
            select(SheetCustomer.code, SheetCustomer.name).where(
                SheetCustomer.connection_id == connection_id
            )
        )
    ).all()
    return {code for code, _ in rows}, {name: code for code, name in rows}


async def check(db: Database, import_id: int, told: Callable[[int], None]) -> CheckOutcome:
    """Read the whole file and keep every row's problems; nothing else is written. `told`
    hears how many rows have been read."""
    async with db.session() as session:
        upload = await load(session, import_id)
        organisation = await session.get(Organisation, upload.organisation_id)
        remembered = await _remembered(session, upload.organisation_id, upload.kind)
        known, names = await _customers_known(session, upload.connection_id)
        await session.exec(delete(ImportProblem).where(col(ImportProblem.import_id) == import_id))
        try:
            sheet = await asyncio.to_thread(open_sheet, Path(upload.stored_as))
        except UnreadableFile as unreadable:
            upload.status, upload.error = ImportStatus.FAILED, str(unreadable)
            upload.finished_at = utcnow()
            await session.commit()
            return CheckOutcome(upload.status, 0, 0)
        columns, mapping = _columns_for(
            sheet, upload.kind, Columns.of(upload.mapping).chosen, remembered
        )
        upload.mapping = columns.to_json()
        missing = missing_required(mapping, upload.kind)
        if missing:
            labels = ", ".join(kind_of(upload.kind).label(field) for field in missing)
            upload.status = ImportStatus.READY
            upload.error = f"Choose the column for: {labels}."
            upload.rows_total = upload.rows_ok = upload.rows_bad = 0
            await session.commit()
            return CheckOutcome(upload.status, 0, 0)
        if upload.kind == ImportKind.INVOICES and not upload.date_order:
            order = await asyncio.to_thread(infer_date_order, sheet.rows(), mapping)
            upload.date_order = order or ""
        base = organisation.base_currency if organisation else ""
        ok = bad = kept = 0
        checked_rows = _checked_rows(upload, sheet, mapping, known, names, base)
        async for rows in _off_the_loop(checked_rows):
            for checked in rows:
                ok, bad = (ok + 1, bad) if checked.ok else (ok, bad + 1)
                for problem in checked.problems[: max(KEPT_PROBLEMS - kept, 0)]:
                    session.add(
                        ImportProblem(
                            organisation_id=upload.organisation_id,
                            import_id=import_id,
                            row=problem.row,
                            column=problem.column[:100],
                            reason=problem.reason[:500],
                        )
                    )
                    kept += 1
            # A chunk at a time: the page's progress bar reads rows_total.
            upload.rows_total, upload.rows_ok, upload.rows_bad = ok + bad, ok, bad
            await session.commit()
            told(ok + bad)
        upload.rows_total, upload.rows_ok, upload.rows_bad = ok + bad, ok, bad
        upload.status, upload.error = ImportStatus.READY, ""
        await session.commit()
        return CheckOutcome(upload.status, ok, bad)


PREVIEW_ROWS = 20
PREVIEWED = {
    ImportKind.CUSTOMERS: (("Code", "code"), ("Name", "name"), ("Email", "email")),
    ImportKind.INVOICES: (
        ("Number", "number"),
        ("Customer", "customer_code"),
        ("Due", "due_date"),
        ("Total", "total"),
        ("Due now", "amount_due"),
        ("Status", "status"),
    ),
}
"""What the preview shows of each record: (heading, attribute)."""


@dataclass(frozen=True)
class PreviewRow:
    number: int
    cells: list[str]
    """As duely read them (empty when the row cannot be imported)."""
    problems: list[str]


def _shown(record: Any, attribute: str) -> str:
    value = getattr(record, attribute)
    if attribute in ("total", "amount_due"):
        return format_money(value, record.currency)
    return "" if value is None else str(value)


async def first_rows(db: Database, import_id: int) -> tuple[list[str], list[PreviewRow]]:
    """The file's first rows as they will be written (or why not), for the preview; with
    the preview's headings."""
    async with db.session() as session:
        upload = await load(session, import_id)
        organisation = await session.get(Organisation, upload.organisation_id)
        known, names = await _customers_known(session, upload.connection_id)
    shown = PREVIEWED[ImportKind(upload.kind)]
    base = organisation.base_currency if organisation else ""

    def read() -> list[PreviewRow]:
        try:
            sheet = open_sheet(Path(upload.stored_as))
        except UnreadableFile:
            return []
        mapping = _indexes(Columns.of(upload.mapping).chosen, sheet.headers)
        if missing_required(mapping, upload.kind):
            return []
        rows = _checked_rows(upload, sheet, mapping, known, names, base)
        return [
            PreviewRow(
                checked.number,
                [_shown(checked.record, a) for _, a in shown] if checked.record else [],
                [problem.reason for problem in checked.problems],
            )
            for checked in itertools.islice(rows, PREVIEW_ROWS)
        ]

    return [heading for heading, _ in shown], await asyncio.to_thread(read)


async def choose_columns(
    db: Database, organisation_id: int, import_id: int, chosen: dict[str, str], date_order: str
) -> SpreadsheetImport | None:
    """A person's columns (and date order) for the file, to be checked again."""
    async with db.session() as session:
        upload = await session.get(SpreadsheetImport, import_id)
        if upload is None or upload.organisation_id != organisation_id:
            return None
        headers = Columns.of(upload.mapping).headers
        picked = {field: header for field, header in chosen.items() if header in headers}
        upload.mapping = Columns(headers, picked).to_json()
        upload.date_order = date_order if date_order in ("DMY", "MDY") else ""
        upload.status = ImportStatus.CHECKING
        await session.commit()
        return upload


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    created: int
    updated: int
    unchanged: int


def _customer_values(record: ImportedCustomer) -> dict[str, Any]:
    return {
        "name": record.name,
        "email": record.email,
        "phone": record.phone,
        "contact_name": record.contact_name,
    }


def _invoice_values(record: ImportedInvoice) -> dict[str, Any]:
    return {
        "customer_code": record.customer_code,
        "issue_date": record.issue_date,
        "due_date": record.due_date,
        "currency": record.currency,
        "total": record.total,
        "amount_due": record.amount_due,
        "status": record.status,
        "reference": record.reference,
    }


async def _write_chunk(
    session: AsyncSession, upload: SpreadsheetImport, records: list[Any], now: datetime
) -> Written:
    """Upsert one chunk of good rows on their key (customer code, invoice number)."""
    customers = upload.kind == ImportKind.CUSTOMERS
    table: Any = SheetCustomer if customers else SheetInvoice
    key_column = table.code if customers else table.number
    keys = [r.code if customers else r.number for r in records]
    existing = {
        (row.code if customers else row.number): row
        for row in (
            await session.exec(
                select(table).where(
                    table.connection_id == upload.connection_id, col(key_column).in_(keys)
                )
            )
        ).all()
    }
    paid_by_card = set() if customers else await _paid_by_card(session, upload, keys)
    created = updated = unchanged = 0
    for key, record in zip(keys, records, strict=True):
        values = _customer_values(record) if customers else _invoice_values(record)
        row = existing.get(key)
        if row is not None and key in paid_by_card:
            _keep_card_payments(row, values)
        if row is None:
            identity = {"code": key} if customers else {"number": key}
            session.add(
                table(
                    organisation_id=upload.organisation_id,
                    connection_id=upload.connection_id,
                    updated_at=now,
                    **identity,
                    **values,
                )
            )
            created += 1
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            updated += 1
        else:
            unchanged += 1
    return Written(created, updated, unchanged)


async def _paid_by_card(
    session: AsyncSession, upload: SpreadsheetImport, numbers: list[str]
) -> set[str]:
    """The invoices among these that duely took a card payment for."""
    found = await session.exec(
        select(SheetReceipt.invoice_number).where(
            SheetReceipt.connection_id == upload.connection_id,
            col(SheetReceipt.invoice_number).in_(numbers),
        )
    )
    return set(found)


def _keep_card_payments(row: SheetInvoice, values: dict[str, Any]) -> None:
    """A file never says an invoice owes more than duely knows it does after a card payment:
    the export may predate the bookkeeper entering the receipt, and the customer would be
    chased for what they paid. (An invoice amended upwards after a card payment is the price:
    it shows the higher amount once the receipt is in the books.)"""
    if values["status"] == InvoiceStatus.OPEN and values["amount_due"] > row.amount_due:
        values["amount_due"] = row.amount_due
        if row.amount_due == 0:
            values["status"] = InvoiceStatus.PAID


async def write(db: Database, import_id: int, told: Callable[[int], None]) -> Written:
    """Write the file's good rows (checked again as they are read: the file is the one the
    person confirmed), a chunk per transaction, and remember its columns. Safe to run again
    after a crash: rows already written are unchanged the second time."""
    async with db.session() as session:
        upload = await load(session, import_id)
        organisation = await session.get(Organisation, upload.organisation_id)
        known, names = await _customers_known(session, upload.connection_id)
        upload.status, upload.rows_written = ImportStatus.IMPORTING, 0
        upload.confirmed_at = upload.confirmed_at or utcnow()
        await session.commit()
        columns = Columns.of(upload.mapping)
        sheet = await asyncio.to_thread(open_sheet, Path(upload.stored_as))
        mapping = _indexes(columns.chosen, sheet.headers)
        base = organisation.base_currency if organisation else ""
        created = updated = unchanged = seen = 0
        checked_rows = _checked_rows(upload, sheet, mapping, known, names, base)
        async for rows in _off_the_loop(checked_rows):
            seen += len(rows)
            good = [checked.record for checked in rows if checked.ok and checked.record]
            # Stamped as each chunk is written, not when the import began: a sync that read a
            # later change (a card payment) meanwhile has moved its cursor past the start.
            done = await _write_chunk(session, upload, good, utcnow())
            created, updated = created + done.created, updated + done.updated
            unchanged += done.unchanged
            upload.rows_written = created + updated + unchanged
            await session.commit()
            told(seen)
        total = Written(created, updated, unchanged)
        upload.created, upload.updated, upload.unchanged = (
            total.created,
            total.updated,
            total.unchanged,
        )
        upload.status, upload.finished_at = ImportStatus.DONE, utcnow()
        await _remember(session, upload.organisation_id, upload.kind, columns.chosen)
        await session.commit()
        return total


async def _remember(
    session: AsyncSession, organisation_id: int, kind: str, chosen: dict[str, str]
) -> None:
    choice = (
        await session.exec(
            select(ColumnChoice).where(
                ColumnChoice.organisation_id == organisation_id, ColumnChoice.kind == kind
            )
        )
    ).first() or ColumnChoice(organisation_id=organisation_id, kind=kind)
    choice.mapping = json.dumps(chosen)
    session.add(choice)


async def load(session: AsyncSession, import_id: int) -> SpreadsheetImport:
    upload = await session.get(SpreadsheetImport, import_id)
    if upload is None:
        raise LookupError(f"no spreadsheet import {import_id}")
    return upload


async def cancel(db: Database, import_id: int) -> None:
    async with db.session() as session:
        upload = await session.get(SpreadsheetImport, import_id)
        if upload is not None and upload.status not in (ImportStatus.DONE, ImportStatus.FAILED):
            upload.status, upload.finished_at = ImportStatus.CANCELLED, utcnow()
            await session.commit()
