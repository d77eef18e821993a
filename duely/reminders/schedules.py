"""An organisation's schedules: listed with their use, created, renamed, made the default,
deleted, their steps saved, assigned to customers; and the data behind the schedule preview.

Every query is scoped by organisation. Helpers that write commit, so that what follows a write
(telling the chases) is added after the commit, by the caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import (
    ContactKind,
    Customer,
    CustomerGroup,
    Organisation,
    Schedule,
    ScheduleStep,
)
from duely.outbox.send_times import SendWindow, preview
from duely.reminders.naming import Refused, name_problem
from duely.reminders.rendering import (
    format_date,
)
from duely.reminders.steps import CHANNEL_LABELS, CleanStep


@dataclass
class ScheduleSummary:
    schedule: Schedule
    steps: list[ScheduleStep]
    customers: int
    """Customers assigned to it by name; the default also serves those with no schedule."""
    by_default: int = 0


async def org_schedules(session: AsyncSession, org_id: int) -> list[Schedule]:
    statement = (
        select(Schedule)
        .where(Schedule.organisation_id == org_id)
        .order_by(col(Schedule.is_default).desc(), Schedule.name, Schedule.id)
    )
    return list((await session.exec(statement)).all())


async def schedule_steps(session: AsyncSession, schedule: Schedule) -> list[ScheduleStep]:
    statement = (
        select(ScheduleStep)
        .where(
            ScheduleStep.organisation_id == schedule.organisation_id,
            ScheduleStep.schedule_id == schedule.id,
        )
        .order_by(ScheduleStep.position, ScheduleStep.id)
    )
    return list((await session.exec(statement)).all())


async def schedule_summaries(session: AsyncSession, org_id: int) -> list[ScheduleSummary]:
    schedules = await org_schedules(session, org_id)
    steps = (
        await session.exec(
            select(ScheduleStep)
            .where(ScheduleStep.organisation_id == org_id)
            .order_by(ScheduleStep.position, ScheduleStep.id)
        )
    ).all()
    usage = await _customers_per_schedule(session, org_id)
    summaries = []
    for schedule in schedules:
        own = [step for step in steps if step.schedule_id == schedule.id]
        summary = ScheduleSummary(schedule, own, usage.get(schedule.id, 0))
        if schedule.is_default:
            summary.by_default = usage.get(None, 0)
        summaries.append(summary)
    return summaries


async def _customers_per_schedule(session: AsyncSession, org_id: int) -> dict[int | None, int]:
    statement = (
        select(Customer.schedule_id, func.count())
        .where(Customer.organisation_id == org_id)
        .group_by(Customer.schedule_id)
    )
    return {schedule_id: count for schedule_id, count in await session.exec(statement)}


async def customers_on(session: AsyncSession, schedule: Schedule) -> int:
    """Customers assigned to `schedule` by name (not those following the default)."""
    return (await _customers_per_schedule(session, schedule.organisation_id)).get(schedule.id, 0)


def step_summary(step: ScheduleStep | CleanStep) -> str:
    """`−3d email`, `+14d email, every 7d ×2`, `+37d call task (escalated)`."""
    day = "due day" if step.offset_days == 0 else f"{step.offset_days:+d}d".replace("-", "−")
    text = f"{day} {CHANNEL_LABELS.get(step.channel, step.channel).lower()}"
    if step.repeat_every_days is not None:
        text += f", every {step.repeat_every_days}d ×{step.repeat_max_times}"
    if step.recipient_kind == ContactKind.ESCALATED:
        text += " (escalated)"
    return text


async def create_schedule(
    session: AsyncSession, org_id: int, name: str, copy_default: bool
) -> Schedule:
    """A new, non-default schedule; with `copy_default`, a copy of the default's steps."""
    schedules = await org_schedules(session, org_id)
    problem = name_problem(name, (s.name for s in schedules), "schedule")
    if problem:
        raise Refused(problem)
    schedule = Schedule(organisation_id=org_id, name=name, is_default=not schedules)
    session.add(schedule)
    await session.flush()
    default = next((s for s in schedules if s.is_default), None)
    if copy_default and default is not None:
        copies = [CleanStep.of(step) for step in await schedule_steps(session, default)]
        _add_steps(session, schedule, [_without_id(step) for step in copies])
    await session.commit()
    return schedule


def _without_id(step: CleanStep) -> CleanStep:
    return replace(step, id=None)


async def rename_schedule(session: AsyncSession, schedule: Schedule, name: str) -> None:
    schedules = await org_schedules(session, schedule.organisation_id)
    others = [other.name for other in schedules if other.id != schedule.id]
    problem = name_problem(name, others, "schedule")
    if problem:
        raise Refused(problem)
    schedule.name = name
    session.add(schedule)
    await session.commit()


async def make_default(session: AsyncSession, schedule: Schedule) -> None:
    """Make `schedule` the organisation's only default. One UPDATE over all the organisation's
    schedules, so two admins doing this at once still leave exactly one default."""
    await session.exec(
        update(Schedule)
        .where(col(Schedule.organisation_id) == schedule.organisation_id)
        .values(is_default=col(Schedule.id) == schedule.id)
    )
    await session.commit()
    await session.refresh(schedule)


async def delete_schedule(session: AsyncSession, schedule: Schedule) -> None:
    if schedule.is_default:
        raise Refused(
            f"“{schedule.name}” is the default schedule: make another schedule the default first."
        )
    used = await customers_on(session, schedule)
    if used:
        raise Refused(
            f"{used} customer{'s' if used != 1 else ''} follow “{schedule.name}”: move "
            "them to another schedule first (on each customer's page)."
        )
    try:
        await session.exec(
            delete(ScheduleStep).where(
                col(ScheduleStep.organisation_id) == schedule.organisation_id,
                col(ScheduleStep.schedule_id) == schedule.id,
            )
        )
        await session.delete(schedule)
        await session.commit()
    except IntegrityError as error:  # a customer was assigned to it in the meantime
        await session.rollback()
        raise Refused(f"Customers follow “{schedule.name}” now: it was not deleted.") from error


async def save_steps(session: AsyncSession, schedule: Schedule, steps: Sequence[CleanStep]) -> None:
    """Make `steps` the schedule's steps, in order. Rows keep their ids where the editor
    carried them, so whatever refers to a step (a chase in progress) still finds it."""
    # Lock the schedule so that two admins saving at once do not interleave their rows.
    await session.exec(select(Schedule).where(Schedule.id == schedule.id).with_for_update())
    existing = {step.id: step for step in await schedule_steps(session, schedule)}
    kept = {step.id for step in steps if step.id in existing}
    for row_id in existing.keys() - kept:
        await session.delete(existing[row_id])
    await session.flush()
    _add_steps(session, schedule, steps, existing)
    await session.commit()


def _add_steps(
    session: AsyncSession,
    schedule: Schedule,
    steps: Sequence[CleanStep],
    existing: Mapping[int | None, ScheduleStep] | None = None,
) -> None:
    existing = dict(existing or {})
    for position, step in enumerate(steps):
        # An id seen twice (a tampered form) gets a new row the second time.
        row = existing.pop(step.id, None) or ScheduleStep(
            organisation_id=schedule.organisation_id, schedule_id=schedule.id
        )
        row.position = position
        row.offset_days = step.offset_days
        row.channel = step.channel
        row.template_id = step.template_id
        row.recipient_kind = step.recipient_kind
        row.repeat_every_days = step.repeat_every_days
        row.repeat_max_times = step.repeat_max_times
        session.add(row)


async def assign_schedule(
    session: AsyncSession, customer: Customer, schedule_id: int | None
) -> None:
    """Put `customer` on one of its organisation's schedules (None: the organisation default).
    The web handler then tells the customer's running chases (duely.web.chase)."""
    if schedule_id is not None:
        schedule = await session.get(Schedule, schedule_id)
        if schedule is None or schedule.organisation_id != customer.organisation_id:
            raise Refused("Choose one of your schedules.")
    customer.schedule_id = schedule_id
    session.add(customer)
    await session.commit()


async def schedule_choices(session: AsyncSession, org_id: int) -> list[Schedule]:
    """The schedules a customer can be put on, default first."""
    return await org_schedules(session, org_id)


# --- the schedule preview ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRow:
    step: int
    """1-based, as the editor numbers the steps."""
    repeat: int
    local: datetime
    channel: str
    template: str
    moved_from: date | None
    """The day the step falls on when that is a weekend or holiday (it goes out later)."""

    @property
    def day(self) -> str:
        return format_date(self.local.date())

    @property
    def weekday(self) -> str:
        return f"{self.local:%A}"

    @property
    def time(self) -> str:
        return f"{self.local:%H:%M} {self.local.tzname()}"

    @property
    def moved_note(self) -> str:
        if self.moved_from is None:
            return ""
        return f"moved from {self.moved_from:%A} {format_date(self.moved_from)}"


def send_window(organisation: Organisation) -> SendWindow:
    return SendWindow(
        start=organisation.send_window_start,
        end=organisation.send_window_end,
        country=organisation.country,
        timezone=organisation.timezone,
        subdivision=organisation.subdivision or None,
        days=organisation.send_days,
    )


def plan_sends(
    steps: Sequence[CleanStep],
    template_names: Mapping[int, str],
    due_date: date,
    window: SendWindow,
) -> list[PlannedRow]:
    """Every send of the schedule for an invoice due on `due_date`, as `send_times` plans it."""
    planned = preview([step.timing(str(row)) for row, step in enumerate(steps)], due_date, window)
    rows = []
    for send in planned:
        step = steps[int(send.label)]
        nominal = due_date + timedelta(
            days=step.offset_days + send.repeat * (step.repeat_every_days or 0)
        )
        rows.append(
            PlannedRow(
                step=int(send.label) + 1,
                repeat=send.repeat,
                local=send.local,
                channel=step.channel,
                template=template_names.get(step.template_id, "") if step.template_id else "",
                moved_from=nominal if nominal != send.local.date() else None,
            )
        )
    return rows


# --- which schedule a customer follows -----------------------------------------------------------


@dataclass(frozen=True)
class Followed:
    schedule_id: int | None
    why: str
    """"chosen" (given by name), "group:<name>" (by the ledger's contact group), "default"."""


async def schedule_followed(session: AsyncSession, customer: Customer) -> Followed:
    """The customer's own schedule if one was chosen by name; else the schedule for one of
    their contact groups in the ledger (the first by schedule name, when several match); else
    the organisation's default."""
    if customer.schedule_id is not None:
        return Followed(customer.schedule_id, "chosen")
    return await unless_chosen(session, customer)


async def unless_chosen(session: AsyncSession, customer: Customer) -> Followed:
    """The schedule the customer follows when none is chosen by name: by contact group, else
    the default."""
    by_group = (
        await session.exec(
            select(Schedule.id, Schedule.contact_group)
            .join(
                CustomerGroup,
                (col(CustomerGroup.name) == col(Schedule.contact_group))
                & (col(CustomerGroup.customer_id) == customer.id),
            )
            .where(Schedule.organisation_id == customer.organisation_id)
            .order_by(col(Schedule.name), col(Schedule.id))
        )
    ).first()
    if by_group is not None:
        schedule_id, group = by_group
        return Followed(schedule_id, f"group:{group}")
    default = (
        await session.exec(
            select(Schedule.id).where(
                Schedule.organisation_id == customer.organisation_id, col(Schedule.is_default)
            )
        )
    ).first()
    return Followed(default, "default")


async def contact_group_names(session: AsyncSession, org_id: int) -> list[str]:
    """The contact groups the organisation's customers are in, by name."""
    rows = await session.exec(
        select(CustomerGroup.name)
        .where(CustomerGroup.organisation_id == org_id)
        .distinct()
        .order_by(col(CustomerGroup.name))
    )
    return list(rows)


async def assign_contact_group(session: AsyncSession, schedule: Schedule, group: str) -> None:
    """Customers in `group` (a contact group of the ledger; "" for none) follow `schedule`
    unless they were given a schedule by name. The web handler then tells the organisation's
    running chases, which read their schedule again."""
    if len(group) > 200:
        raise Refused("A contact group's name is at most 200 characters.")
    schedule.contact_group = group
    session.add(schedule)
    await session.commit()


async def customers_in_group(session: AsyncSession, org_id: int, group: str) -> list[Customer]:
    """Customers in the contact group who follow no schedule chosen by name."""
    if not group:
        return []
    rows = await session.exec(
        select(Customer)
        .join(CustomerGroup, col(CustomerGroup.customer_id) == col(Customer.id))
        .where(
            Customer.organisation_id == org_id,
            CustomerGroup.name == group,
            col(Customer.schedule_id).is_(None),
        )
        .order_by(col(Customer.id))
    )
    return list(rows)
