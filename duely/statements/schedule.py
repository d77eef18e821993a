"""Each organisation's monthly statement run as a Temporal Schedule: on its statement day, at
the opening of its send window, in its own time zone."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from duely.core.temporal.schedules import put_schedule
from duely.models import Organisation, saved_id
from duely.settings import Settings


def statement_schedule_id(organisation_id: int) -> str:
    return f"statements-{organisation_id}"


async def ensure_statement_schedule(
    client: Client, settings: Settings, organisation: Organisation
) -> None:
    """Create, update or (with no statement day) remove the organisation's schedule."""
    handle = client.get_schedule_handle(statement_schedule_id(saved_id(organisation)))
    if organisation.statement_day is None:
        try:
            await handle.delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    opens = organisation.send_window_start
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            "StatementRunWorkflow",
            args=[organisation.id, organisation.timezone],
            id=f"statements-{organisation.id}-run",
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(organisation.statement_day)],
                    hour=[ScheduleRange(opens.hour)],
                    minute=[ScheduleRange(opens.minute)],
                )
            ],
            time_zone_name=organisation.timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"monthly statements of organisation {organisation.id}"),
    )
    await put_schedule(client, handle.id, schedule)
