"""The activities of SpreadsheetImportWorkflow: check an uploaded file, write it once confirmed
and ask for the sync that mirrors it (duely.ledgers.spreadsheet_imports holds the rules)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from duely.core.db import Database
from duely.ledgers import spreadsheet_imports as imports
from duely.ledgers.spreadsheet_imports import CheckOutcome, Written
from duely.ledgers.sync_schedule import request_sync
from duely.models import Connection
from duely.settings import Settings


class SpreadsheetActivities:
    def __init__(self, settings: Settings, db: Database, client: Client) -> None:
        self._settings = settings
        self._db = db
        self._client = client

    @activity.defn
    async def check_import(self, import_id: int) -> CheckOutcome:
        return await imports.check(self._db, import_id, activity.heartbeat)

    @activity.defn
    async def write_import(self, import_id: int) -> Written:
        """Write the good rows, then sync the organisation's spreadsheet ledger: the sync
        mirrors what changed and starts its chases, as for any ledger."""
        written = await imports.write(self._db, import_id, activity.heartbeat)
        async with self._db.session() as session:
            upload = await imports.load(session, import_id)
            connection = await session.get(Connection, upload.connection_id)
        if connection is not None:
            await request_sync(self._client, self._settings, connection)
        return written

    @activity.defn
    async def cancel_import(self, import_id: int) -> None:
        await imports.cancel(self._db, import_id)
