"""Temporal Schedules as duely keeps them: put in place by whoever needs one (a worker at
start, a connection when it is made), and brought up to date when the settings change."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)


def every(
    minutes: int,
    action: ScheduleActionStartWorkflow,
    note: str = "",
    offset: timedelta = timedelta(),
) -> Schedule:
    """Start `action` every `minutes` (`offset` into each interval); a start that comes while
    the last run still works is skipped (the next one catches up)."""
    return Schedule(
        action=action,
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=minutes), offset=offset)]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=note),
    )


GOLDEN_FRACTION = 0.6180339887498949


def spread(key: int, minutes: int) -> timedelta:
    """A place in each interval of `minutes` for the schedule of `key` (a connection's id),
    the same for the same key. Temporal counts intervals from the Unix epoch, so schedules
    with no offset all fire in the same second; multiples of the golden ratio keep any number
    of consecutive keys evenly apart."""
    return timedelta(seconds=int((key * GOLDEN_FRACTION) % 1 * minutes * 60))


async def put_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the schedule, or bring an existing one up to date (its timing, workflow or task
    queue may have changed since it was made)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )
