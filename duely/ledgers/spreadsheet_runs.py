"""Starting and steering an import's workflow (SpreadsheetImportWorkflow) from the pages."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from duely.core.temporal.names import ORG, spreadsheet_import_workflow_id
from duely.core.temporal.queues import SYNC, queue_for
from duely.models import SpreadsheetImport, saved_id
from duely.settings import Settings
from duely.workflows.spreadsheet_import import SpreadsheetImportWorkflow


async def start_checking(client: Client, settings: Settings, upload: SpreadsheetImport) -> None:
    await client.start_workflow(
        SpreadsheetImportWorkflow.run,
        saved_id(upload),
        id=spreadsheet_import_workflow_id(upload.organisation_id, saved_id(upload)),
        task_queue=queue_for(settings.temporal_task_queue, SYNC),
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORG, str(upload.organisation_id))]
        ),
    )


async def tell(client: Client, upload: SpreadsheetImport, decision: str) -> None:
    """`confirm`, `cancel` or `recheck` (after the person chose other columns)."""
    if decision not in ("confirm", "cancel", "recheck"):
        raise ValueError(decision)
    handle = client.get_workflow_handle(
        spreadsheet_import_workflow_id(upload.organisation_id, saved_id(upload))
    )
    await handle.signal(decision)
