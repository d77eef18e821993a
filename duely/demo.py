"""The demo organisations of `duely up`: one connected to the sandbox's demo Xero organisation,
one to its demo QuickBooks company, both through the real OAuth code path, and one to its
demo AccountsIQ company with the published demo keys, each with its first sync requested; the
first is paid by card into a Stripe account on localstripe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlmodel import Session, select

from duely.accounts.organisations import (
    DEMO_ACCOUNTSIQ_ORGANISATION,
    DEMO_ORGANISATION,
    DEMO_QUICKBOOKS_ORGANISATION,
    DEMO_SPREADSHEET_ORGANISATION,
)
from duely.core.db import Database, make_sync_engine
from duely.core.security import SecretBox
from duely.core.temporal.client import connect_with_retry
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.connect import (
    connect_accountsiq_company,
    connect_quickbooks_company,
    connect_xero_tenant,
    quickbooks_authorization,
    redeem_xero_code,
    xero_redirect_uri,
)
from duely.ledgers.spreadsheet_imports import keep_upload
from duely.ledgers.spreadsheet_runs import start_checking, tell
from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection, ImportStatus, Organisation, SpreadsheetImport, saved_id
from duely.sandbox.accountsiq.sandbox import DEMO_COMPANY_ID as ACCOUNTSIQ_DEMO_COMPANY
from duely.sandbox.accountsiq.sandbox import DEMO_REGION as ACCOUNTSIQ_DEMO_REGION
from duely.sandbox.accountsiq.sandbox import DEMO_USER_KEY as ACCOUNTSIQ_DEMO_USER_KEY
from duely.sandbox.quickbooks.consent import connect_company
from duely.sandbox.quickbooks.sandbox import DEMO_COMPANY_NAME as QUICKBOOKS_DEMO_COMPANY
from duely.sandbox.xero.consent import allow_access
from duely.settings import Settings
from duely.spreadsheets import write_example

# The demo organisation's own Stripe account on localstripe (which takes any `sk_...`). Published
# demo values, never real keys; `duely up` registers its webhook with the same secret.
DEMO_STRIPE_SECRET_KEY = "sk_test_duely_demo"  # noqa: S105 - a published demo credential
DEMO_STRIPE_PUBLISHABLE_KEY = "pk_test_duely_demo"
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_duely_demo"  # noqa: S105 - a published demo credential
DEMO_PAYMENT_ACCOUNTS = "GBP=090 EUR=091 USD=092 JPY=093 *=615"
"""Where the demo's card payments go in the sandbox's demo Xero (a GB organisation): each
currency to its own bank account (090 is the GBP business account, 091-093 the EUR, USD and
JPY accounts the seed makes for its foreign customers), anything else to 615, the card
payments clearing account with payments enabled. Xero takes payments only on bank accounts
and accounts with payments enabled."""


def configure_demo_stripe(database_url: str, secret_key: str) -> bool:
    """Give the demo organisation its localstripe account, unless it has Stripe settings
    already (someone may have put real test keys there); True if anything changed."""
    box = SecretBox(secret_key)
    engine = make_sync_engine(database_url)
    try:
        with Session(engine) as session:
            organisation = session.exec(
                select(Organisation).where(Organisation.name == DEMO_ORGANISATION)
            ).one()
            changed = False
            has_stripe = organisation.stripe_secret_key_encrypted or organisation.stripe_account_id
            if not has_stripe:
                organisation.stripe_secret_key_encrypted = box.encrypt(DEMO_STRIPE_SECRET_KEY)
                organisation.stripe_publishable_key = DEMO_STRIPE_PUBLISHABLE_KEY
                organisation.stripe_webhook_secret_encrypted = box.encrypt(
                    DEMO_STRIPE_WEBHOOK_SECRET
                )
                changed = True
            if not organisation.payment_accounts:
                organisation.payment_accounts = DEMO_PAYMENT_ACCOUNTS
                changed = True
            session.add(organisation)
            session.commit()
            return changed
    finally:
        engine.dispose()


async def connect_demo_ledgers(settings: Settings) -> list[str]:
    """Connect each demo organisation to its sandbox ledger (Xero and QuickBooks through the
    real OAuth code path, AccountsIQ with its demo keys), unless it is connected already, and
    ask for the first sync. Returns the ledgers it connected."""
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    connected: list[str] = []
    try:
        xero_demo = await _unconnected(db, DEMO_ORGANISATION)
        if xero_demo is not None:
            authorization = ledgers.xero_oauth.authorization_request(xero_redirect_uri(settings))
            answer = await allow_access(authorization.url)
            _check_answer(answer, authorization.state)
            grant = await redeem_xero_code(
                ledgers, settings, answer["code"], authorization.code_verifier
            )
            connection = await connect_xero_tenant(
                db, ledgers, xero_demo, grant, grant.tenants[0].tenant_id
            )
            await request_sync(await connect_with_retry(settings), settings, connection)
            connected.append("Xero")
        quickbooks_demo = await _unconnected(db, DEMO_QUICKBOOKS_ORGANISATION)
        if quickbooks_demo is not None:
            authorization = quickbooks_authorization(ledgers, settings)
            answer = await connect_company(authorization.url, QUICKBOOKS_DEMO_COMPANY)
            _check_answer(answer, authorization.state)
            connection = await connect_quickbooks_company(
                db,
                ledgers,
                settings,
                quickbooks_demo,
                answer["code"],
                authorization.code_verifier,
                answer["realmId"],
            )
            await request_sync(await connect_with_retry(settings), settings, connection)
            connected.append("QuickBooks")
        accountsiq_demo = await _unconnected(db, DEMO_ACCOUNTSIQ_ORGANISATION)
        if accountsiq_demo is not None:
            connection = await connect_accountsiq_company(
                db,
                ledgers,
                accountsiq_demo,
                company_id=ACCOUNTSIQ_DEMO_COMPANY,
                user_key=ACCOUNTSIQ_DEMO_USER_KEY,
                location=ACCOUNTSIQ_DEMO_REGION,
            )
            await request_sync(await connect_with_retry(settings), settings, connection)
            connected.append("AccountsIQ")
        return connected
    finally:
        await ledgers.aclose()
        await db.dispose()


async def _unconnected(db: Database, name: str) -> int | None:
    """The demo organisation's id if it exists and has no connection yet."""
    async with db.session() as session:
        organisation = (
            await session.exec(select(Organisation).where(Organisation.name == name))
        ).first()
        if organisation is None:
            return None
        connection = (
            await session.exec(
                select(Connection).where(Connection.organisation_id == organisation.id)
            )
        ).first()
        return None if connection is not None else saved_id(organisation)


def _check_answer(answer: dict[str, str], state: str) -> None:
    if answer.get("state") != state or "code" not in answer:
        raise RuntimeError(f"the sandbox did not grant access: {answer}")


DEMO_IMPORT_SECONDS = 600
"""Each file's patience: the import runs while the stack serves (duely.up)."""


async def import_demo_spreadsheets(settings: Settings) -> bool:
    """The spreadsheet demo organisation imports the bundled example files (40 customers as
    CSV, then 150 invoices as Excel) through the real import workflow, each confirmed as a
    person would, unless it has imported before. Needs a running worker; True if it imported."""
    db = Database(settings.resolved_database_url)
    try:
        organisation_id = await _unconnected(db, DEMO_SPREADSHEET_ORGANISATION)
        if organisation_id is None:
            return False
        folder = settings.home / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        client = await connect_with_retry(settings)
        for kind, name in (("customers", "customers.csv"), ("invoices", "invoices.xlsx")):
            path = write_example(folder / name, kind)
            upload = await keep_upload(
                db, settings.home, organisation_id, kind, name, _file_chunks(path), "demo"
            )
            await start_checking(client, settings, upload)
            await tell(client, upload, "confirm")  # waits in the workflow until checked
            await _imported(db, saved_id(upload))
        return True
    finally:
        await db.dispose()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    yield await asyncio.to_thread(path.read_bytes)  # a small bundled file


async def _imported(db: Database, import_id: int) -> None:
    deadline = asyncio.get_running_loop().time() + DEMO_IMPORT_SECONDS
    while True:
        async with db.session() as session:
            upload = await session.get(SpreadsheetImport, import_id)
        if upload is not None and upload.status == ImportStatus.DONE:
            return
        if upload is not None and upload.status not in (
            ImportStatus.CHECKING,
            ImportStatus.IMPORTING,
            ImportStatus.READY,
        ):
            raise RuntimeError(
                f"the demo import {upload.filename} ended {upload.status}: {upload.error}"
            )
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the demo import {import_id} did not finish in time")
        await asyncio.sleep(0.5)
