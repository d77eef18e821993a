"""Spreadsheet import's pure core: read a customers or invoices file (CSV or XLSX), guess which
column is which, check every row, and give normalised records with each problem's row number.

No database, web or Temporal here: the import workflow, its storage and its pages build on it.
"""

from duely.spreadsheets.columns import (
    CUSTOMERS,
    INVOICES,
    KINDS,
    Field,
    Kind,
    Mapping,
    guess_mapping,
    missing_required,
    recognise,
)
from duely.spreadsheets.currencies import CURRENCIES
from duely.spreadsheets.example import write_example
from duely.spreadsheets.reading import Sheet, SheetRow, UnreadableFile, open_sheet
from duely.spreadsheets.rows import (
    Checked,
    ImportedCustomer,
    ImportedInvoice,
    Problem,
    infer_date_order,
    validate_customers,
    validate_invoices,
)
from duely.spreadsheets.values import DateOrder

__all__ = [
    "CURRENCIES",
    "CUSTOMERS",
    "INVOICES",
    "KINDS",
    "Checked",
    "DateOrder",
    "Field",
    "ImportedCustomer",
    "ImportedInvoice",
    "Kind",
    "Mapping",
    "Problem",
    "Sheet",
    "SheetRow",
    "UnreadableFile",
    "guess_mapping",
    "infer_date_order",
    "missing_required",
    "open_sheet",
    "recognise",
    "validate_customers",
    "validate_invoices",
    "write_example",
]
