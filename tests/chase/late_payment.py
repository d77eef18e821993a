"""A payment that reaches a chase exactly while it writes its last note: the moment a webhook
can hit by chance, made deterministic with a worker interceptor (tests and replay recordings)."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from duely.chase.state import ENDING, ChaseState, PaymentNotice

FINAL = {*ENDING, ChaseState.FINISHED}


class PaymentWhileEnding(Interceptor):
    """Build the worker with this, set `client`, then `pay_while_ending` a chase: its payment
    is signalled once, while the chase's note with a final state is being written."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.waiting: dict[str, PaymentNotice] = {}
        self.delivered: set[str] = set()

    def pay_while_ending(self, workflow_id: str, payment: PaymentNotice) -> None:
        self.waiting[workflow_id] = payment

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _NoteInterceptor(next, self)


class _NoteInterceptor(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, outer: PaymentWhileEnding) -> None:
        super().__init__(next)
        self.outer = outer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info, outer = activity.info(), self.outer
        if info.activity_type == "note_chase" and info.workflow_id in outer.waiting:
            (note,) = input.args
            if note.chase_state in FINAL:
                assert outer.client is not None, "set the interceptor's client first"
                payment = outer.waiting.pop(info.workflow_id)
                await outer.client.get_workflow_handle(info.workflow_id).signal(
                    "payment_received", payment
                )
                outer.delivered.add(info.workflow_id)
        return await super().execute_activity(input)
