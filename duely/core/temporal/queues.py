"""duely's task queues: what runs where, so each kind of work has its own limits.

- chase (the base queue, DUELY_TEMPORAL_TASK_QUEUE): the chases', outboxes' and the schedules'
  workflows, and the quick activities that plan chases, note what happened and start or
  signal other workflows;
- sync: what a person waits for when they import a spreadsheet or press "Sync now": the sync
  and import workflows and all their activities, the passes that page through a ledger (long,
  rate-limited reads) among them. A morning's reminders or a big first sync's chase starts
  fill the chase queue; none of that stands in front of them;
- ledger: writes to a ledger (payments, promises, notes);
- delivery: email and SMS (the mail server's pace, the re-read before sending).

A worker process may poll any of them (DUELY_WORKER_QUEUES; all by default), so the embedded
stack stays one process while a busy installation runs, say, two chase workers and one for
each of the others. The names derive from the base queue, so a test's unique base queue gets
unique companions. Workflows call `queue_for(workflow.info().task_queue, ...)`: deterministic,
and right from any queue of the family (a sync workflow runs on the sync queue; one started
before syncs moved there runs on the chase queue and finds the same companions).
"""

from __future__ import annotations

CHASE = "chase"
SYNC = "sync"
LEDGER = "ledger"
DELIVERY = "delivery"
KINDS = (CHASE, SYNC, LEDGER, DELIVERY)


def base_of(queue: str) -> str:
    """The base queue of any queue of the family."""
    for kind in KINDS[1:]:
        if queue.endswith(f"-{kind}"):
            return queue.removesuffix(f"-{kind}")
    return queue


def queue_for(queue: str, kind: str) -> str:
    """The queue for `kind` in the family of `queue` (the base queue or a companion)."""
    if kind not in KINDS:
        raise ValueError(f"no task queue kind {kind!r}: pick from {', '.join(KINDS)}")
    base = base_of(queue)
    return base if kind == CHASE else f"{base}-{kind}"
