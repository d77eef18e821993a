"""Talking to the chase workflows from outside them: the sync fan-out, the web UI, the API
and the webhooks all start, signal and query InvoiceChaseWorkflow through here, so they agree
on ids, signal names and what "not running" means."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from duely.chase.eligibility import invoice_facts, should_chase
from duely.chase.state import ChaseAction, ChaseStart, ChaseView, PaymentNotice, PromiseToPay
from duely.core.temporal import names
from duely.models import Invoice, saved_id

QUERY_TIMEOUT = timedelta(seconds=5)


class Action(StrEnum):
    """The API's action names (`POST /api/v1/invoices/{id}/actions/{action}`)."""

    PAUSE = "pause"
    RESUME = "resume"
    ESCALATE = "escalate"
    SEND_NOW = "send-now"
    DISPUTE = "dispute"
    RESOLVE_DISPUTE = "resolve-dispute"
    PROMISE = "promise"
    STOP = "stop"


SIGNAL_OF_ACTION = {
    Action.PAUSE: "pause",
    Action.RESUME: "resume",
    Action.ESCALATE: "escalate",
    Action.SEND_NOW: "send_now",
    Action.DISPUTE: "open_dispute",
    Action.RESOLVE_DISPUTE: "resolve_dispute",
    Action.PROMISE: "promise",
    Action.STOP: "stop",
}


class NotChasing(Exception):
    """The invoice has no running chase (paid, voided, stopped, or never started)."""


async def tell_chase(
    client: Client, task_queue: str, invoice: Invoice, start_new: bool = True
) -> str | None:
    """What sync does for each changed invoice: start the chase of an open invoice (or re-plan
    the running one), and let a running chase of a paid or voided one end. With `start_new`
    False only running chases hear of it. Returns the workflow id when it runs."""
    workflow_id = _workflow_id(invoice)
    facts = invoice_facts(invoice)
    if start_new and should_chase(invoice):
        await client.start_workflow(
            "InvoiceChaseWorkflow",
            ChaseStart(invoice.organisation_id, saved_id(invoice), invoice.customer_id),
            id=workflow_id,
            task_queue=task_queue,
            start_signal="invoice_changed",
            start_signal_args=[facts],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=_search_attributes(invoice),
        )
        return workflow_id
    try:
        await client.get_workflow_handle(workflow_id).signal("invoice_changed", facts)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    return None


async def tell_payment(
    client: Client, task_queue: str, invoice: Invoice, payment: PaymentNotice
) -> None:
    """Money arrived for the invoice: its chase records it in the ledger. A chase that ended
    (or never ran) is started for it, so every payment is placed or found unplaceable."""
    await client.start_workflow(
        "InvoiceChaseWorkflow",
        ChaseStart(
            invoice.organisation_id, saved_id(invoice), invoice.customer_id, only_payments=True
        ),
        id=_workflow_id(invoice),
        task_queue=task_queue,
        start_signal="payment_received",
        start_signal_args=[payment],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_search_attributes(invoice),
    )


async def act(
    client: Client,
    invoice: Invoice,
    action: Action,
    by: str,
    reason: str = "",
    until: str | None = None,
) -> None:
    """A person's instruction; raises NotChasing when no chase runs for the invoice."""
    handle = client.get_workflow_handle(_workflow_id(invoice))
    payload: PromiseToPay | ChaseAction
    if action == Action.PROMISE:
        payload = PromiseToPay(saved_id(invoice), until or "", by)
    else:
        payload = ChaseAction(by=by, reason=reason, until=until)
    try:
        await handle.signal(SIGNAL_OF_ACTION[action], payload)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotChasing(f"invoice {invoice.number} is not being chased") from error
        raise


async def chasing_changed(client: Client, invoices: list[Invoice]) -> None:
    """Customer-level changes (opt-out, chasing switched, schedule): running chases re-read
    their plan."""
    for invoice in invoices:
        try:
            await _handle(client, invoice).signal("chasing_changed")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise


async def retry_payments(client: Client, invoices: list[Invoice]) -> None:
    """What kept card payments out of the ledger was fixed: the chases holding them try again
    now."""
    for invoice in invoices:
        try:
            await _handle(client, invoice).signal("retry_payments")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise


async def _status(client: Client, invoice: Invoice) -> WorkflowExecutionStatus | None:
    try:
        return (await _handle(client, invoice).describe()).status
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def is_running(client: Client, invoice: Invoice) -> bool:
    return await _status(client, invoice) == WorkflowExecutionStatus.RUNNING


async def view(client: Client, invoice: Invoice) -> ChaseView | None:
    """The state of the invoice's chase: live while it runs, final once it ended by itself
    (paid, voided, stopped); None when there is none, or it was terminated or failed (its last
    state would look alive)."""
    status = await _status(client, invoice)
    if status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        return None
    try:
        state: ChaseView = await _handle(client, invoice).query(
            "view", result_type=ChaseView, rpc_timeout=QUERY_TIMEOUT
        )
        return state
    except WorkflowQueryFailedError:
        return None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _search_attributes(invoice: Invoice) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(names.ORG, str(invoice.organisation_id)),
            SearchAttributePair(names.CUSTOMER, str(invoice.customer_id)),
            SearchAttributePair(names.INVOICE_NUMBER, invoice.number),
        ]
    )


def _handle(client: Client, invoice: Invoice) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(_workflow_id(invoice))


def _workflow_id(invoice: Invoice) -> str:
    return names.chase_workflow_id(invoice.organisation_id, saved_id(invoice))


async def start_all_chases(client: Client, task_queue: str, organisation_id: int) -> None:
    """The organisation switched chasing on: every open invoice's chase starts (in the
    background; starting it twice is harmless)."""
    await client.start_workflow(
        "StartChasesWorkflow",
        organisation_id,
        id=f"start-chases-{organisation_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
