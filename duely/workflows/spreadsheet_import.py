"""SpreadsheetImportWorkflow: one uploaded file, from its check to its rows written.

The file is checked (every row, nothing written) and the workflow then waits, for as long as a
week, on the person: `recheck` after they chose other columns or another date order, `confirm`
to write the good rows, `cancel` to drop it. Being a workflow, an import survives a restart of
duely at any step; writing is an upsert, so a write cut short is simply run again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from duely.activities.spreadsheets import SpreadsheetActivities

DECISION_WAIT = timedelta(days=7)
READ_WHOLE_FILE = timedelta(hours=1)
BEATS_EVERY = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
FAILED, CANCELLED, DONE = "failed", "cancelled", "done"
"""duely.models.ImportStatus's values (models are I/O; a workflow imports none)."""


@workflow.defn
class SpreadsheetImportWorkflow:
    def __init__(self) -> None:
        self._decision = ""
        self._rechecks = 0
        self._checked_after = 0
        """How many rechecks had been asked when the last check began."""

    @workflow.signal
    def confirm(self) -> None:
        self._decision = "confirm"

    @workflow.signal
    def cancel(self) -> None:
        self._decision = "cancel"

    @workflow.signal
    def recheck(self) -> None:
        self._rechecks += 1

    @workflow.run
    async def run(self, import_id: int) -> str:
        while True:
            self._checked_after = self._rechecks
            checked = await workflow.execute_activity_method(
                SpreadsheetActivities.check_import,
                import_id,
                start_to_close_timeout=READ_WHOLE_FILE,
                heartbeat_timeout=BEATS_EVERY,
                retry_policy=RETRY,
            )
            if checked.status == FAILED:
                return FAILED
            try:
                await workflow.wait_condition(self._asked, timeout=DECISION_WAIT)
            except TimeoutError:
                self._decision = "cancel"
            if self._decision == "cancel":
                await workflow.execute_activity_method(
                    SpreadsheetActivities.cancel_import,
                    import_id,
                    start_to_close_timeout=timedelta(minutes=1),
                )
                return CANCELLED
            if self._decision == "confirm" and self._rechecks == self._checked_after:
                break
            self._decision = ""  # columns changed after the confirm was asked: check again
        await workflow.execute_activity_method(
            SpreadsheetActivities.write_import,
            import_id,
            start_to_close_timeout=READ_WHOLE_FILE,
            heartbeat_timeout=BEATS_EVERY,
            retry_policy=RETRY,
        )
        return DONE

    def _asked(self) -> bool:
        return bool(self._decision) or self._rechecks != self._checked_after
