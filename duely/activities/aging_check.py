"""The activity of AgingCheckWorkflow: compare what duely says customers owe with the
ledger's own aged receivables report (duely.ledgers.aging_check holds the rules)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from temporalio import activity

from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.aging_check import AgingChecked, check_aging

__all__ = ["AgingCheckActivities", "AgingChecked"]

log = logging.getLogger(__name__)


class AgingCheckActivities:
    def __init__(self, db: Database, ledgers: Ledgers) -> None:
        self._db = db
        self._ledgers = ledgers

    @activity.defn
    async def check_aging(self) -> AgingChecked:
        done = await check_aging(self._db, self._ledgers)
        for problem in done.problems:
            log.warning("aging check could not read a ledger: %s", problem)
        log.info("aging check: %s", asdict(done))
        return done
