"""Names shared by web, worker and tests: search attributes and workflow ids.

A workflow id is built in exactly one function here, so signals from the web, the webhooks
and the sync fan-out always reach the same workflow.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

ORG = SearchAttributeKey.for_keyword("DuelyOrg")
CUSTOMER = SearchAttributeKey.for_keyword("DuelyCustomer")
INVOICE_NUMBER = SearchAttributeKey.for_keyword("DuelyInvoiceNumber")
CHASE_STATE = SearchAttributeKey.for_keyword("DuelyChaseState")
AMOUNT_DUE = SearchAttributeKey.for_float("DuelyAmountDue")
DUE_DATE = SearchAttributeKey.for_datetime("DuelyDueDate")

SEARCH_ATTRIBUTES = (ORG, CUSTOMER, INVOICE_NUMBER, CHASE_STATE, AMOUNT_DUE, DUE_DATE)

_CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}


def search_attribute_cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}"]
    return flags


def health_check_workflow_id(run_token: str) -> str:
    return f"health-{run_token}"


def sync_workflow_id(connection_id: int) -> str:
    return f"sync-{connection_id}"


def sync_schedule_id(connection_id: int) -> str:
    return f"sync-schedule-{connection_id}"


def chase_workflow_id(organisation_id: int, invoice_id: int) -> str:
    return f"chase-{organisation_id}-{invoice_id}"


def outbox_workflow_id(organisation_id: int, customer_id: int) -> str:
    return f"outbox-{organisation_id}-{customer_id}"


def spreadsheet_import_workflow_id(organisation_id: int, import_id: int) -> str:
    return f"spreadsheet-import-{organisation_id}-{import_id}"
