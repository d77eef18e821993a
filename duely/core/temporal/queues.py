"""duely's task queues: what runs where, so each kind of work has its own limits.

- chase (the base queue, DUELY_TEMPORAL_TASK_QUEUE): every workflow, and the quick activities
  that plan chases, note what happened and start or signal other workflows;
- sync: the passes that page through a ledger (long, rate-limited reads);
- ledger: writes to a ledger (payments, promises, notes);
- delivery: email and SMS (the mail server's pace, the re-read before sending).

A worker process may poll any of them (DUELY_WORKER_QUEUES; all by default), so the embedded
stack stays one process while a busy installation runs, say, two chase workers and one for
each of the others. The names derive from the base queue, so a test's unique base queue gets
unique companions. Workflows call `queue_for(workflow.info().task_queue, ...)`: deterministic.
"""

from __future__ import annotations

CHASE = "chase"
SYNC = "sync"
LEDGER = "ledger"
DELIVERY = "delivery"
KINDS = (CHASE, SYNC, LEDGER, DELIVERY)


def queue_for(base: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"no task queue kind {kind!r}: pick from {', '.join(KINDS)}")
    return base if kind == CHASE else f"{base}-{kind}"
