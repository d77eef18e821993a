"""The chase, inside the ledger: each timeline line a bookkeeper would want (a reminder sent,
a promise, a dispute, a pause, a payment) is written as a note on the invoice's history in the
ledger, so they see the chase without opening duely.

A sweep (LedgerNotesWorkflow, every DUELY_LEDGER_NOTES_MINUTES) takes the timeline lines not
yet dealt with, oldest first, and writes each invoice's in one call, a few calls per ledger
tenant per round so that notes never crowd out syncs and payments under the tenant's rate
limit. A line is marked once written, or passed over when it is not worth a note or no ledger
holds its invoice. A ledger that is down, busy or refusing access keeps its lines for the next
round; one that refuses an invoice's notes (the invoice is gone from it) passes them over.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlmodel import col, select, update

from duely.core.db import Database
from duely.integrations.ledgers.base import LedgerError, LedgerRejected
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection, Event, Invoice, utcnow

log = logging.getLogger(__name__)

NOTED_KINDS = frozenset(
    {
        "reminder_sent",
        "paused",
        "resumed",
        "escalated",
        "stopped",
        "promised",
        "promise_passed",
        "dispute_opened",
        "dispute_resolved",
        "payment_recorded",
        "card_payment",
        "refund",
        "call_done",
        "customer_says_paid",
        "customer_promised",
        "customer_disputed",
    }
)
"""What a bookkeeper wants to see in the ledger; the engine's own bookkeeping (queued,
withdrawn, retries) stays in duely's timeline."""
LINES_PER_ROUND = 500
"""Timeline lines looked at per round, oldest first; the next round takes the rest."""
CALLS_PER_TENANT = 10
"""Ledger calls per tenant per round: at a round every five minutes, 2 a minute of Xero's 60."""
NOTES_PER_CALL = 25


@dataclass
class NotesRound:
    """What one round did, for the activity's result and the logs."""

    written: int = 0
    passed_over: int = 0
    left_for_later: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    event_id: int
    kind: str
    detail: str
    connection_id: int | None
    invoice_ref: str
    """The invoice's id in its ledger."""


def note_of(kind: str, detail: str) -> str:
    """The words written into the ledger for one timeline line."""
    return f"duely: {detail}" if detail else f"duely: {kind.replace('_', ' ')}"


async def write_notes(db: Database, ledgers: Ledgers) -> NotesRound:
    done = NotesRound()
    lines = await _lines_not_yet_dealt_with(db)
    passed = [
        line.event_id
        for line in lines
        if line.kind not in NOTED_KINDS or line.connection_id is None or not line.invoice_ref
    ]
    await _mark(db, passed)
    done.passed_over += len(passed)
    by_tenant: dict[int, dict[str, list[_Line]]] = defaultdict(lambda: defaultdict(list))
    for line in lines:
        if line.event_id not in passed and line.connection_id is not None:
            by_tenant[line.connection_id][line.invoice_ref].append(line)
    for connection_id, invoices in by_tenant.items():
        await _write_for_tenant(db, ledgers, connection_id, invoices, done)
    return done


async def _write_for_tenant(
    db: Database,
    ledgers: Ledgers,
    connection_id: int,
    invoices: dict[str, list[_Line]],
    done: NotesRound,
) -> None:
    waiting = sum(len(lines) for lines in invoices.values())
    async with db.session() as session:
        connection = await session.get(Connection, connection_id)
    try:
        if connection is None:
            raise LedgerRejected("the connection is gone")
        ledger = ledgers.open(connection)
    except (LedgerError, NotImplementedError) as cannot:
        # No notes for a ledger duely cannot write to (yet): they are passed over, not kept for
        # ever; a connection waiting for a person to reconnect keeps them for later.
        if isinstance(cannot, LedgerError) and not isinstance(cannot, LedgerRejected):
            done.left_for_later += waiting
            done.problems.append(f"connection {connection_id}: {cannot}")
            return
        await _mark(db, [line.event_id for lines in invoices.values() for line in lines])
        done.passed_over += waiting
        return
    calls = 0
    for invoice_ref, lines in invoices.items():
        for start in range(0, len(lines), NOTES_PER_CALL):
            if calls == CALLS_PER_TENANT:
                done.left_for_later += waiting
                return
            chunk = lines[start : start + NOTES_PER_CALL]
            key = f"duely-notes-{connection_id}-{chunk[0].event_id}-{chunk[-1].event_id}"
            calls += 1
            try:
                await ledger.add_notes(
                    invoice_ref, [note_of(line.kind, line.detail) for line in chunk], key
                )
            except LedgerRejected as refused:
                log.warning("the ledger refused notes for invoice %s: %s", invoice_ref, refused)
                done.passed_over += len(chunk)
            except LedgerError as trouble:  # down, busy, access refused: try next round
                done.left_for_later += waiting
                done.problems.append(f"connection {connection_id}: {trouble}")
                return
            else:
                done.written += len(chunk)
            await _mark(db, [line.event_id for line in chunk])
            waiting -= len(chunk)


async def _lines_not_yet_dealt_with(db: Database) -> list[_Line]:
    async with db.session() as session:
        rows = await session.exec(
            select(
                Event.id,
                Event.kind,
                Event.detail,
                Invoice.connection_id,
                Invoice.external_id,
            )
            .join(Invoice, col(Invoice.id) == col(Event.invoice_id))
            .where(col(Event.ledger_noted_at).is_(None))
            .order_by(col(Event.id))
            .limit(LINES_PER_ROUND)
        )
        return [
            _Line(event_id, kind, detail, connection_id, external_id or "")
            for event_id, kind, detail, connection_id, external_id in rows
        ]


async def _mark(db: Database, event_ids: list[int]) -> None:
    if not event_ids:
        return
    async with db.session() as session:
        await session.exec(
            update(Event).where(col(Event.id).in_(event_ids)).values(ledger_noted_at=utcnow())
        )
        await session.commit()
