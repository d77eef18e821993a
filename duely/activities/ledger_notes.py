"""The activity of LedgerNotesWorkflow: write the chase's recent timeline into the ledgers as
notes on each invoice's history (duely.ledgers.history_notes holds the rules)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from temporalio import activity

from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.history_notes import write_notes

log = logging.getLogger(__name__)


@dataclass
class NotesWritten:
    written: int
    passed_over: int
    left_for_later: int
    problems: list[str]


class LedgerNotesActivities:
    def __init__(self, db: Database, ledgers: Ledgers) -> None:
        self._db = db
        self._ledgers = ledgers

    @activity.defn
    async def write_ledger_notes(self) -> NotesWritten:
        done = await write_notes(self._db, self._ledgers)
        for problem in done.problems:
            log.warning("ledger notes kept for the next round: %s", problem)
        return NotesWritten(done.written, done.passed_over, done.left_for_later, done.problems)
