"""Spreadsheet imports end to end (issue 16): uploaded through the pages, checked and written by
SpreadsheetImportWorkflow on a real worker on the dev server.

- A 10,000-row invoices file with 200 bad rows reports exactly those 200, with their row
  numbers and reasons, writes nothing until confirmed, writes the 9,800 good rows in one
  confirmation, and importing it again changes nothing.
- A spreadsheet organisation's invoice is imported, reminded by real SMTP, paid by card, and
  the payment is in the receipts export for the bookkeeper.
"""

from __future__ import annotations

import csv
import random
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.models import (
    ChaseMode,
    ImportProblem,
    ImportStatus,
    Invoice,
    Organisation,
    SheetCustomer,
    SheetInvoice,
    SpreadsheetImport,
)
from tests.conftest import csrf_from, login
from tests.live import forget_this_tests_workflows
from tests.stripe_webhooks import take_cards
from tests.waiting import eventually
from tests.xero.test_chasing import always_open
from tests.xero.test_payments import chase_result, deliver, paid_in_full

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
async def forget_afterwards(dev_server_env):
    """The dev server outlives the test: its imports' syncs (schedules) go with it, so that the
    next test's connection 1 and import 1 start clean."""
    yield
    await forget_this_tests_workflows(dev_server_env.client)


CUSTOMERS = 40
BAD_KINDS = ("negative", "not a number", "currency", "date", "customer")


def write_customers(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        sheet = csv.writer(out)
        sheet.writerow(["Account code", "Customer name", "Email", "Phone"])
        for n in range(CUSTOMERS):
            sheet.writerow([f"C{n:03d}", f"Customer {n} Ltd", f"ap{n}@customer{n}.test", ""])
    return path


def write_invoices(path: Path, rows: int, bad: int, seed: int = 7) -> set[int]:
    """`rows` invoices, `bad` of them wrong in one of five ways; the bad rows' numbers."""
    rng = random.Random(seed)
    wrong = set(rng.sample(range(rows), bad))
    start = date(2026, 10, 1)
    bad_rows: set[int] = set()
    with path.open("w", newline="", encoding="utf-8") as out:
        sheet = csv.writer(out)
        sheet.writerow(
            ["Invoice number", "Customer code", "Invoice date", "Due date", "Currency", "Total"]
        )
        for n in range(rows):
            due = start + timedelta(days=n % 120)
            cells = [f"INV-{n:05d}", f"C{n % CUSTOMERS:03d}", "2026-09-15", due.isoformat()]
            cells += ["GBP", f"{100 + n % 900}.50"]
            if n in wrong:
                kind = BAD_KINDS[n % len(BAD_KINDS)]
                if kind == "negative":
                    cells[5] = "-12.00"
                elif kind == "not a number":
                    cells[5] = "twelve"
                elif kind == "currency":
                    cells[4] = "XYZ"
                elif kind == "date":
                    cells[3] = "31/31/2026"
                else:
                    cells[1] = "NOBODY"
                bad_rows.add(n + 2)  # the header is row 1
            sheet.writerow(cells)
    return bad_rows


async def upload(web, path: Path, kind: str) -> int:
    page = await web.get("/imports")
    with path.open("rb") as file:
        answer = await web.post(
            "/imports",
            data={"kind": kind, "_csrf_token": csrf_from(page.text)},
            files={"file": (path.name, file, "text/csv")},
            follow_redirects=False,
        )
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


async def settled(db, import_id: int, status: str) -> SpreadsheetImport:
    def reached() -> SpreadsheetImport | None:
        db.expire_all()
        found = db.get(SpreadsheetImport, import_id)
        db.rollback()
        return found if found.status == status else None

    return await eventually(reached, f"import {import_id} never became {status}", seconds=120)


async def press(web, import_id: int, action: str) -> None:
    page = await web.get(f"/imports/{import_id}")
    answer = await web.post(
        f"/imports/{import_id}/{action}",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def sheet_invoices(db) -> int:
    db.expire_all()
    count = db.exec(select(func.count()).select_from(SheetInvoice)).one()
    db.rollback()
    return count


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_ten_thousand_rows_with_two_hundred_bad_ones(live, db, org_a, tmp_path):
    db.exec(
        update(Organisation).where(Organisation.id == org_a.id).values(chase_mode=ChaseMode.OFF)
    )
    db.commit()
    web = live.web
    await login(web, org_a.admin)
    customers = await upload(web, write_customers(tmp_path / "customers.csv"), "customers")
    # "Account code" is no header duely reads as the customer's code (in Xero's exports it is
    # a sales account): the person is asked, and chooses it.
    unsure = await settled(db, customers, ImportStatus.READY)
    assert "Choose the column for: Customer code" in unsure.error
    page = await web.get(f"/imports/{customers}")
    chosen = await web.post(
        f"/imports/{customers}/columns",
        data={
            "_csrf_token": csrf_from(page.text),
            "column_customer_code": "Account code",
            "column_name": "Customer name",
            "column_email": "Email",
        },
        follow_redirects=False,
    )
    assert chosen.status_code == 303, chosen.text

    async def rechecked():
        db.expire_all()
        found = db.get(SpreadsheetImport, customers)
        db.rollback()
        return found if found.status == ImportStatus.READY and not found.error else None

    ready = await eventually(rechecked, "the customers were never checked again")
    assert (ready.rows_ok, ready.rows_bad) == (CUSTOMERS, 0)
    await press(web, customers, "confirm")
    await settled(db, customers, ImportStatus.DONE)

    bad_rows = write_invoices(tmp_path / "invoices.csv", 10_000, 200)
    invoices = await upload(web, tmp_path / "invoices.csv", "invoices")
    checked = await settled(db, invoices, ImportStatus.READY)
    assert (checked.rows_total, checked.rows_ok, checked.rows_bad) == (10_000, 9_800, 200)
    problems = select(ImportProblem.row).where(ImportProblem.import_id == invoices)
    reported = set(db.exec(problems))
    assert reported == bad_rows
    page = await web.get(f"/imports/{invoices}")
    assert "9800</strong> rows are ready to import" in page.text
    assert "The first rows, as they will be imported" in page.text
    assert "INV-00000" in page.text and "100.50" in page.text  # money shown as money
    assert "Currency &#39;XYZ&#39;" in page.text or "XYZ" in page.text
    assert sheet_invoices(db) == 0  # nothing written before the confirmation

    await press(web, invoices, "confirm")
    done = await settled(db, invoices, ImportStatus.DONE)
    assert (done.created, done.updated, done.unchanged) == (9_800, 0, 0)
    assert sheet_invoices(db) == 9_800

    again = await upload(web, tmp_path / "invoices.csv", "invoices")
    await settled(db, again, ImportStatus.READY)
    await press(web, again, "confirm")
    repeated = await settled(db, again, ImportStatus.DONE)
    assert (repeated.created, repeated.updated, repeated.unchanged) == (0, 0, 9_800)
    assert sheet_invoices(db) == 9_800
    codes = set(db.exec(select(SheetCustomer.code)))
    assert len(codes) == CUSTOMERS


# --- a spreadsheet organisation chased and paid ----------------------------------------------


@pytest.fixture
def live_settings(live_settings, smtp_server):
    """The worker sends by real SMTP, without a minute of gathering per reminder."""
    _, smtp_url = smtp_server
    return live_settings.model_copy(update={"smtp_url": smtp_url, "outbox_gather_seconds": 1})


def write_open_invoices(path: Path, due: date) -> list[str]:
    numbers = [f"SI-{n}" for n in range(1, 6)]
    with path.open("w", newline="", encoding="utf-8") as out:
        sheet = csv.writer(out)
        sheet.writerow(["Invoice number", "Customer code", "Due date", "Currency", "Total"])
        for n, number in enumerate(numbers):
            sheet.writerow([number, f"C{n:03d}", due.isoformat(), "GBP", f"{120 + n}.00"])
    return numbers


async def imported(web, db, path: Path, kind: str) -> SpreadsheetImport:
    import_id = await upload(web, path, kind)
    await settled(db, import_id, ImportStatus.READY)
    await press(web, import_id, "confirm")
    return await settled(db, import_id, ImportStatus.DONE)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_imported_invoice_is_reminded_paid_by_card_and_exported_as_a_receipt(
    live, db, org_a, smtp_server, tmp_path
):
    catcher, _ = smtp_server
    always_open(db, org_a.id)
    take_cards(db, org_a.id, live.settings, "")  # nothing to book: the bookkeeper does it
    web = live.web
    await login(web, org_a.admin)
    customers = tmp_path / "customers.csv"
    with customers.open("w", newline="", encoding="utf-8") as out:
        sheet = csv.writer(out)
        sheet.writerow(["Customer code", "Customer name", "Email"])
        for n in range(5):
            sheet.writerow([f"C{n:03d}", f"Customer {n} Ltd", f"ap{n}@customer{n}.test"])
    await imported(web, db, customers, "customers")
    numbers = write_open_invoices(tmp_path / "invoices.csv", date.today() + timedelta(days=60))
    await imported(web, db, tmp_path / "invoices.csv", "invoices")

    def chased() -> list[Invoice] | None:
        db.expire_all()
        rows = db.exec(select(Invoice).where(col(Invoice.number).in_(numbers))).all()
        db.rollback()
        return rows if len(rows) == 5 and all(r.chase_state for r in rows) else None

    invoices = await eventually(chased, "the import's sync never started the chases")
    invoice = next(i for i in invoices if i.number == "SI-1")
    live.started.extend(invoices)

    await chase_control.act(live.temporal, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def reminded():
        return [r for r in catcher.received if "SI-1" in r.message.get_content()]

    (email,) = await eventually(reminded, "the reminder never reached the mail server")
    assert "ap0@customer0.test" in email.message["To"]

    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    answer = await deliver(web, paid_in_full(payment_id, org_a.id, invoice))
    assert answer.status_code == 200, answer.text
    assert await chase_result(live.temporal, org_a.id, invoice, 60) == "paid"

    db.expire_all()
    kept = db.exec(select(SheetInvoice).where(SheetInvoice.number == "SI-1")).one()
    assert (kept.amount_due, kept.status) == (0, "paid")
    export = await web.get("/imports/receipts.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(export.text.splitlines()))
    assert [(r["Invoice number"], r["Amount"], r["Currency"]) for r in rows] == [
        ("SI-1", "120.00", "GBP")
    ]
    assert rows[0]["Customer code"] == "C000"
