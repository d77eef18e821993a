"""Spreadsheet imports (issue 16), for businesses whose ledger has no API.

An import is one uploaded file, checked row by row before anything is written and written only
once a person confirms it. What the confirmed imports say is kept as the organisation's own
little ledger (`spreadsheet_customers`, `spreadsheet_invoices`), which duely syncs from like
any other (integrations/ledgers/spreadsheet); card payments are kept there too
(`spreadsheet_receipts`) until the bookkeeper enters them in their books from the export.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field

from duely.models.base import OrgScoped, money, optional_timestamp, timestamp


class ImportKind(StrEnum):
    CUSTOMERS = "customers"
    INVOICES = "invoices"


class ImportStatus(StrEnum):
    CHECKING = "checking"
    READY = "ready"
    """Checked: waiting for a person to confirm (or change the columns, or cancel)."""
    IMPORTING = "importing"
    DONE = "done"
    FAILED = "failed"
    """The file could not be read as a spreadsheet of this kind; nothing was written."""
    CANCELLED = "cancelled"


class SpreadsheetImport(OrgScoped, table=True):
    __tablename__ = "spreadsheet_imports"

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    filename: str = Field(max_length=255)
    stored_as: str = Field(max_length=500)
    """Where the upload is kept, under DUELY_HOME/imports."""
    status: str = Field(default=ImportStatus.CHECKING, max_length=16)
    mapping: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    """JSON: each field's column header, as the person confirmed or duely guessed it."""
    date_order: str = Field(default="", max_length=3)
    """DMY or MDY; "" while the file does not say."""
    rows_total: int = Field(default=0)
    rows_ok: int = Field(default=0)
    rows_bad: int = Field(default=0)
    rows_written: int = Field(default=0)
    created: int = Field(default=0)
    updated: int = Field(default=0)
    unchanged: int = Field(default=0)
    error: str = Field(default="")
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = timestamp()
    confirmed_at: datetime | None = optional_timestamp()
    finished_at: datetime | None = optional_timestamp()


class ImportProblem(OrgScoped, table=True):
    """One row's problem, as the preview lists it."""

    __tablename__ = "spreadsheet_problems"

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(foreign_key="spreadsheet_imports.id", index=True, ondelete="CASCADE")
    row: int
    column: str = Field(max_length=100)
    reason: str = Field(max_length=500)


class ColumnChoice(OrgScoped, table=True):
    """The columns an organisation confirmed for a kind of file, remembered for the next."""

    __tablename__ = "spreadsheet_columns"
    __table_args__ = (UniqueConstraint("organisation_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    mapping: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    """JSON: each field's column header."""


class SheetCustomer(OrgScoped, table=True):
    """A customer as the latest import of customers says."""

    __tablename__ = "spreadsheet_customers"
    __table_args__ = (UniqueConstraint("connection_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    code: str = Field(max_length=100)
    name: str = Field(max_length=300)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=50)
    contact_name: str = Field(default="", max_length=300)
    updated_at: datetime = timestamp()
    """When an import last changed it: the sync's cursor."""


class SheetInvoice(OrgScoped, table=True):
    """An invoice as the latest import of invoices says, less the card payments taken since."""

    __tablename__ = "spreadsheet_invoices"
    __table_args__ = (UniqueConstraint("connection_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    number: str = Field(max_length=100)
    customer_code: str = Field(max_length=100)
    issue_date: date | None = None
    due_date: date
    currency: str = Field(max_length=3)
    total: int = money()
    amount_due: int = money()
    status: str = Field(max_length=16)
    reference: str = Field(default="", max_length=255)
    updated_at: datetime = timestamp()


class SheetReceipt(OrgScoped, table=True):
    """A card payment taken by duely for a spreadsheet organisation: written nowhere else
    until the bookkeeper enters it in their books (the receipts export)."""

    __tablename__ = "spreadsheet_receipts"
    __table_args__ = (UniqueConstraint("connection_id", "reference"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    reference: str = Field(max_length=255)
    invoice_number: str = Field(max_length=100)
    customer_code: str = Field(max_length=100)
    amount: int = money()
    currency: str = Field(max_length=3)
    paid_on: date
    created_at: datetime = timestamp()
