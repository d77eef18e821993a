"""The example spreadsheets a demo imports: 40 customers (CSV) and 150 invoices (XLSX).

Deterministic: the same `today` gives the same rows. Invoices are dated relative to it (some
paid, most open, a third of those overdue, a few part-paid, some in EUR or USD), so the demo's
aging looks like a real small business's.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from duely.spreadsheets.columns import Kind, kind_of

CUSTOMER_COUNT = 40
INVOICE_COUNT = 150
_SEED = 20260403

_FIRST = (
    "Acorn", "Bluebell", "Copper", "Dovetail", "Elmwood", "Foxglove", "Granite", "Harbour",
    "Ironbridge", "Juniper", "Kestrel", "Larch", "Meadow", "Northgate", "Oakfield", "Pennine",
    "Quarry", "Riverside", "Saltmarsh", "Thistle", "Upland", "Vale", "Willow", "Yarrow",
)  # fmt: skip
_SECOND = (
    "Bakery", "Joinery", "Print Works", "Dental Practice", "Builders", "Catering", "Florists",
    "Engineering", "Coffee Roasters", "Garden Centre", "Veterinary Clinic", "Brewing Co",
    "Design Studio", "Plumbing", "Electrical", "Logistics",
)  # fmt: skip
_ENDINGS = ("Ltd", "Ltd", "Limited", "LLP", "")
_PEOPLE = (
    "Amira Khan", "Ben Hughes", "Chloe Evans", "Dev Patel", "Ella Murphy", "Finn O'Brien",
    "Grace Li", "Harry Walsh", "Isla Campbell", "Jack Turner", "Keira Shah", "Liam Davies",
    "Maya Roberts", "Noah Wright", "Olivia Green", "Priya Nair", "Ruby Clarke", "Sam Ahmed",
    "Tom Baker", "Zara Hussain",
)  # fmt: skip


@dataclass(frozen=True)
class ExampleCustomer:
    code: str
    name: str
    email: str
    phone: str
    contact_name: str


def example_customers() -> list[ExampleCustomer]:
    chance = random.Random(_SEED)  # noqa: S311 - example data, not secrets
    names: list[str] = []
    while len(names) < CUSTOMER_COUNT:
        name = f"{chance.choice(_FIRST)} {chance.choice(_SECOND)}"
        ending = chance.choice(_ENDINGS)
        if all(not other.startswith(name) for other in names):
            names.append(f"{name} {ending}".strip())
    customers = []
    for number, name in enumerate(sorted(names), start=1):
        person = chance.choice(_PEOPLE)
        domain = "".join(ch for ch in name.lower().split(" ltd")[0] if ch.isalnum())[:20]
        customers.append(
            ExampleCustomer(
                code=f"C{number:04d}",
                name=name,
                email=f"accounts@{domain}.example",
                phone=f"+44 20 7946 {chance.randrange(10000):04d}",
                contact_name=person,
            )
        )
    return customers


def write_example(path: Path, kind: Kind | str, *, today: date | None = None) -> Path:
    """Writes the example customers (CSV) or invoices (XLSX, with a title row above the
    headers, dates as date cells, amounts as numbers) to `path`; returns it."""
    kind = kind_of(kind)
    if kind.name == "customers":
        _write_customers(path)
    else:
        _write_invoices(path, today or date.today())
    return path


def _write_customers(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Account", "Customer name", "Email", "Phone", "Contact"])
        for customer in example_customers():
            writer.writerow(
                [
                    customer.code,
                    customer.name,
                    customer.email,
                    customer.phone,
                    customer.contact_name,
                ]
            )


def _write_invoices(path: Path, today: date) -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    chance = random.Random(_SEED + 1)  # noqa: S311 - example data, not secrets
    customers = example_customers()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Invoices"
    sheet.append([f"Sales invoices at {today:%d %B %Y}"])
    sheet.append([])
    sheet.append(
        [
            "Invoice No",
            "Account",
            "Customer",
            "Invoice Date",
            "Due Date",
            "Currency",
            "Total",
            "Amount Due",
            "Status",
            "Reference",
        ]
    )
    for number in range(1, INVOICE_COUNT + 1):
        customer = customers[chance.randrange(len(customers))]
        issued = today - timedelta(days=chance.randrange(3, 150))
        due = issued + timedelta(days=chance.choice((14, 30, 30, 30, 60)))
        currency = chance.choices(("GBP", "EUR", "USD"), weights=(85, 10, 5))[0]
        total = Decimal(chance.randrange(4_000, 1_250_000)) / 100
        roll = chance.random()
        if due < today - timedelta(days=45) and roll < 0.6 or roll < 0.15:
            status, due_amount = "Paid", Decimal(0)
        elif roll < 0.22:
            status, due_amount = "Part paid", (total / 2).quantize(Decimal("0.01"))
        else:
            status, due_amount = "Awaiting payment", total
        reference = f"PO-{chance.randrange(1000, 99999)}" if chance.random() < 0.5 else ""
        sheet.append(
            [
                f"INV-{1000 + number}",
                customer.code,
                customer.name,
                issued,
                due,
                currency,
                float(total),
                float(due_amount),
                status,
                reference,
            ]
        )
        row = sheet.max_row
        for column in ("D", "E"):
            sheet[f"{column}{row}"].number_format = "dd/mm/yyyy"
        for column in ("G", "H"):
            sheet[f"{column}{row}"].number_format = "#,##0.00"
    moment = datetime.combine(today, datetime.min.time())
    workbook.properties.created = workbook.properties.modified = moment
    workbook.save(path)
