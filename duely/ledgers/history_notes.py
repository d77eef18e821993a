"""The chase, inside the ledger: each timeline line a bookkeeper would want (a reminder sent,
a promise, a dispute, a pause, a payment) is written as a note on the invoice's history in the
ledger, so they see the chase without opening duely.

A round (LedgerNotesWorkflow, every DUELY_LEDGER_NOTES_MINUTES) takes each connected tenant's
timeline lines not yet dealt with, oldest first, and writes each invoice's in one call, a few
calls per tenant per round so that notes never crowd out syncs and payments under the tenant's
rate limit. A line is marked once written, or passed over when it is not worth a note or no
ledger holds its invoice. A ledger that is down, busy or refusing access (or waiting to be
reconnected) keeps its lines for a later round; one that refuses an invoice's notes (the
invoice is gone from it) passes them over.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

from sqlmodel import col, select, update

from duely.core.db import Database
from duely.integrations.ledgers.base import LedgerError, LedgerRejected
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection, ConnectionStatus, Event, Invoice, saved_id, utcnow

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
    invoice_ref: str
    """The invoice's id in its ledger."""


def note_of(kind: str, detail: str) -> str:
    """The words written into the ledger for one timeline line."""
    return f"duely: {detail}" if detail else f"duely: {kind.replace('_', ' ')}"


async def write_notes(db: Database, ledgers: Ledgers) -> NotesRound:
    """One round: lines not worth a note are passed over, then each connected tenant gets its
    own oldest lines, so a tenant that is down or far behind never holds up another."""
    done = NotesRound(passed_over=await _pass_over_the_rest(db))
    async with db.session() as session:
        connections = list(
            await session.exec(
                select(Connection)
                .where(Connection.status != ConnectionStatus.NEEDS_RECONNECT)
                .order_by(col(Connection.id))
            )
        )
    for connection in connections:
        lines = await _lines_of(db, saved_id(connection))
        if lines:
            await _write_for_tenant(db, ledgers, connection, lines, done)
    return done


async def _write_for_tenant(
    db: Database, ledgers: Ledgers, connection: Connection, lines: list[_Line], done: NotesRound
) -> None:
    try:
        ledger = ledgers.open(connection)
    except NotImplementedError:  # a ledger duely cannot write notes to (yet): none are kept
        await _mark(db, [line.event_id for line in lines])
        done.passed_over += len(lines)
        return
    except LedgerError as cannot:
        done.left_for_later += len(lines)
        done.problems.append(f"connection {connection.id}: {cannot}")
        return
    invoices: dict[str, list[_Line]] = defaultdict(list)
    for line in lines:
        invoices[line.invoice_ref].append(line)
    waiting, calls = len(lines), 0
    for invoice_ref, of_invoice in invoices.items():
        for start in range(0, len(of_invoice), NOTES_PER_CALL):
            if calls == CALLS_PER_TENANT:
                done.left_for_later += waiting
                return
            chunk = of_invoice[start : start + NOTES_PER_CALL]
            key = f"duely-notes-{connection.id}-{chunk[0].event_id}-{chunk[-1].event_id}"
            calls += 1
            try:
                await ledger.add_notes(
                    invoice_ref, [note_of(line.kind, line.detail) for line in chunk], key
                )
            except LedgerRejected as refused:
                log.warning("the ledger refused notes for invoice %s: %s", invoice_ref, refused)
                done.passed_over += len(chunk)
            except NotImplementedError:
                done.passed_over += len(chunk)
            except LedgerError as trouble:  # down, busy, access refused: try next round
                done.left_for_later += waiting
                done.problems.append(f"connection {connection.id}: {trouble}")
                return
            else:
                done.written += len(chunk)
            await _mark(db, [line.event_id for line in chunk])
            waiting -= len(chunk)


async def _pass_over_the_rest(db: Database) -> int:
    """Mark the lines no ledger will get a note for: not worth one, or about an invoice no
    ledger holds (imported from a file). Returns how many."""
    no_ledger = select(Invoice.id).where(
        col(Invoice.connection_id).is_(None) | (col(Invoice.external_id) == "")
    )
    async with db.session() as session:
        result = await session.exec(
            update(Event)
            .where(
                col(Event.ledger_noted_at).is_(None),
                col(Event.kind).not_in(NOTED_KINDS) | col(Event.invoice_id).in_(no_ledger),
            )
            .values(ledger_noted_at=utcnow())
        )
        await session.commit()
        return int(result.rowcount or 0)


async def _lines_of(db: Database, connection_id: int) -> list[_Line]:
    """The connection's oldest lines not yet dealt with, as many as a round can write."""
    async with db.session() as session:
        rows = await session.exec(
            select(col(Event.id), Event.kind, Event.detail, Invoice.external_id)
            .join(Invoice, col(Invoice.id) == col(Event.invoice_id))
            .where(col(Event.ledger_noted_at).is_(None), Invoice.connection_id == connection_id)
            .order_by(col(Event.id))
            .limit(CALLS_PER_TENANT * NOTES_PER_CALL)
        )
        return [_Line(cast(int, id_), kind, detail, ref) for id_, kind, detail, ref in rows]


async def _mark(db: Database, event_ids: list[int]) -> None:
    if not event_ids:
        return
    async with db.session() as session:
        await session.exec(
            update(Event).where(col(Event.id).in_(event_ids)).values(ledger_noted_at=utcnow())
        )
        await session.commit()
