"""Editing an organisation's chasing set-up: schedule steps as a person types them, checked and
saved; templates checked before saving; which schedule a customer follows; the data behind the
schedule and template previews.

Nothing here knows about the web, so the API or the CLI can reuse it. Every query is scoped by
organisation. Helpers that write commit, so that what follows a write (Temporal signals, later)
can be added after the commit in one place.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import (
    Channel,
    Contact,
    ContactKind,
    Customer,
    Invoice,
    InvoiceStatus,
    Organisation,
    Schedule,
    ScheduleStep,
    Template,
)
from duely.outbox.send_times import SendWindow, StepTiming, preview, zone_named
from duely.reminders.rendering import (
    ReminderContext,
    TemplateProblem,
    check_template,
    context_for,
    format_date,
)

# Bounds that catch typos (a 3650-day offset is ten years) and keep every preview short.
MAX_STEPS = 30
MAX_OFFSET_DAYS = 3650
MAX_REPEAT_EVERY_DAYS = 365
MAX_REPEAT_TIMES = 52
NAME_MAX = 200

CHANNEL_LABELS = {
    Channel.EMAIL.value: "Email",
    Channel.SMS.value: "SMS",
    Channel.CALL_TASK.value: "Call task",
}
RECIPIENT_LABELS = {
    ContactKind.NORMAL.value: "Normal contacts",
    ContactKind.ESCALATED.value: "Normal + escalation",
}
TONES = ("friendly", "firm", "final")


class Refused(Exception):
    """An edit that would leave the set-up broken; the message says why, for the person."""


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


def clean_name(raw: str) -> str:
    return " ".join(raw.split())


def name_problem(name: str, taken: Iterable[str], what: str) -> str | None:
    """Why `name` cannot name a schedule or template (`what`), or None when it can."""
    if not name:
        return f"Give the {what} a name."
    if len(name) > NAME_MAX:
        return f"Keep the name under {NAME_MAX} characters."
    if name.casefold() in {other.casefold() for other in taken}:
        return f"Another {what} is already called “{name}”: choose another name."
    return None


# --- schedule steps as typed ---------------------------------------------------------------------

STEP_FIELDS = (
    "id",
    "offset_days",
    "channel",
    "template_id",
    "recipient_kind",
    "repeat_every_days",
    "repeat_max_times",
)
_STEP_INPUT = re.compile(r"step-(\d{1,3})-([a-z_]+)")


@dataclass
class StepInput:
    """One row of the steps editor as submitted: strings, so that a refused form comes back
    exactly as the person typed it."""

    id: str = ""
    offset_days: str = "0"
    channel: str = Channel.EMAIL.value
    template_id: str = ""
    recipient_kind: str = ContactKind.NORMAL.value
    repeat_every_days: str = ""
    repeat_max_times: str = ""

    @classmethod
    def of(cls, step: ScheduleStep) -> StepInput:
        return cls(
            id=_text(step.id),
            offset_days=str(step.offset_days),
            channel=step.channel,
            template_id=_text(step.template_id),
            recipient_kind=step.recipient_kind,
            repeat_every_days=_text(step.repeat_every_days),
            repeat_max_times=_text(step.repeat_max_times),
        )


def steps_from_form(form: Mapping[str, str]) -> list[StepInput]:
    """The editor's rows (inputs named `step-{row}-{field}`), in the order they were shown."""
    rows: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        match = _STEP_INPUT.fullmatch(name)
        if match and match[2] in STEP_FIELDS:
            rows.setdefault(int(match[1]), {})[match[2]] = str(value).strip()
    return [StepInput(**rows[row]) for row in sorted(rows)]


def apply_step_action(steps: list[StepInput], action: str) -> list[StepInput]:
    """Add, remove or move a row (`add`, `remove:2`, `up:2`, `down:2`); only Save writes."""
    verb, _, raw_row = action.partition(":")
    if verb == "add":
        return [*steps, _next_step(steps)]
    row = int(raw_row) if raw_row.isdigit() else -1
    if not 0 <= row < len(steps):
        return steps
    steps = list(steps)
    if verb == "remove":
        del steps[row]
    elif verb in ("up", "down"):
        other = row - 1 if verb == "up" else row + 1
        if 0 <= other < len(steps):
            steps[row], steps[other] = steps[other], steps[row]
    return steps


def _next_step(steps: Sequence[StepInput]) -> StepInput:
    """A new last row, a week after the current last step (so it is already in order)."""
    last = steps[-1].offset_days if steps else ""
    offset = int(last) + 7 if re.fullmatch(r"-?\d{1,4}", last) else 0
    return StepInput(offset_days=str(offset))


@dataclass(frozen=True)
class CleanStep:
    """A checked step, ready to save or to preview."""

    id: int | None
    offset_days: int
    channel: str
    template_id: int | None
    recipient_kind: str
    repeat_every_days: int | None
    repeat_max_times: int | None

    @classmethod
    def of(cls, step: ScheduleStep) -> CleanStep:
        return cls(
            step.id,
            step.offset_days,
            step.channel,
            step.template_id,
            step.recipient_kind,
            step.repeat_every_days,
            step.repeat_max_times,
        )

    def timing(self, label: str) -> StepTiming:
        return StepTiming(label, self.offset_days, self.repeat_every_days, self.repeat_max_times)


@dataclass
class StepErrors:
    """What is wrong with the submitted steps: per row, by field, and for the whole list."""

    rows: list[dict[str, str]]
    overall: str = ""

    def __bool__(self) -> bool:
        return bool(self.overall) or any(self.rows)


def _whole_number(raw: str, low: int, high: int, what: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,6}", raw):
        raise ValueError(f"Enter {what} as a whole number.")
    number = int(raw)
    if not low <= number <= high:
        raise ValueError(f"Enter {what} between {low} and {high}.")
    return number


def validate_steps(
    steps: Sequence[StepInput], template_ids: Collection[int]
) -> tuple[list[CleanStep], StepErrors]:
    """The steps checked one by one; `errors` is falsy when every row is fine."""
    errors = StepErrors(rows=[{} for _ in steps])
    if len(steps) > MAX_STEPS:
        errors.overall = f"A schedule has at most {MAX_STEPS} steps."
    clean: list[CleanStep] = []
    previous: int | None = None
    for row, step in enumerate(steps):
        problems = errors.rows[row]
        offset = _offset(step, problems)
        checked = _check_step(step, offset, template_ids, problems)
        # The chase walks the steps in order, so a step may not come before the one above it
        # (checked on every row whose day reads, whatever else is wrong with it).
        if offset is not None and previous is not None and offset < previous:
            problems["offset_days"] = (
                f"Day {offset} comes before the step above it (day {previous}): "
                "move this step up, or change its day."
            )
        elif checked is not None:
            clean.append(checked)
        previous = offset if offset is not None else previous
    return clean, errors


def _offset(step: StepInput, problems: dict[str, str]) -> int | None:
    try:
        return _whole_number(
            step.offset_days, -MAX_OFFSET_DAYS, MAX_OFFSET_DAYS, "the day from the due date"
        )
    except ValueError as error:
        problems["offset_days"] = str(error)
        return None


def _check_step(
    step: StepInput, offset: int | None, template_ids: Collection[int], problems: dict[str, str]
) -> CleanStep | None:
    """The row as a CleanStep, or None with `problems` filled in by field."""
    if step.channel not in CHANNEL_LABELS:
        problems["channel"] = "Choose email, SMS or a call task."
    if step.recipient_kind not in RECIPIENT_LABELS:
        problems["recipient_kind"] = "Choose who receives this step."
    template_id = _step_template(step, template_ids, problems)
    every, times = _step_repeat(step, problems)
    if problems or offset is None:
        return None
    return CleanStep(
        id=int(step.id) if step.id.isdigit() else None,
        offset_days=offset,
        channel=step.channel,
        template_id=template_id,
        recipient_kind=step.recipient_kind,
        repeat_every_days=every,
        repeat_max_times=times,
    )


def _step_template(
    step: StepInput, template_ids: Collection[int], problems: dict[str, str]
) -> int | None:
    chosen = int(step.template_id) if step.template_id.isdigit() else None
    if step.channel == Channel.CALL_TASK:
        if step.template_id:
            # A person makes the call; a template here would suggest a message that never goes.
            problems["template_id"] = "A call task has no template: choose “none”."
        return None
    if step.channel in CHANNEL_LABELS and chosen is None:
        problems["template_id"] = f"Choose the template this {CHANNEL_LABELS[step.channel]} uses."
    elif chosen is not None and chosen not in template_ids:
        problems["template_id"] = "Choose one of your templates."
    return chosen


def _step_repeat(step: StepInput, problems: dict[str, str]) -> tuple[int | None, int | None]:
    if not step.repeat_every_days and not step.repeat_max_times:
        return None, None
    if not step.repeat_every_days or not step.repeat_max_times:
        problems["repeat"] = (
            "To repeat, fill in both “every … days” and “at most … times”; "
            "to send once, leave both empty."
        )
        return None, None
    try:
        every = _whole_number(step.repeat_every_days, 1, MAX_REPEAT_EVERY_DAYS, "the interval")
        times = _whole_number(step.repeat_max_times, 0, MAX_REPEAT_TIMES, "the number of repeats")
    except ValueError as error:
        problems["repeat"] = str(error)
        return None, None
    return every, times


# --- schedules -----------------------------------------------------------------------------------


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


# --- templates -----------------------------------------------------------------------------------


async def org_templates(session: AsyncSession, org_id: int) -> list[Template]:
    statement = (
        select(Template)
        .where(Template.organisation_id == org_id)
        .order_by(Template.name, Template.id)
    )
    return list((await session.exec(statement)).all())


async def template_usage(session: AsyncSession, org_id: int) -> dict[int, list[str]]:
    """Template id -> names of the schedules whose steps use it."""
    statement = (
        select(ScheduleStep.template_id, Schedule.name)
        .join(Schedule, col(Schedule.id) == col(ScheduleStep.schedule_id))
        .where(ScheduleStep.organisation_id == org_id, col(ScheduleStep.template_id).is_not(None))
        .distinct()
        .order_by(Schedule.name)
    )
    usage: dict[int, list[str]] = {}
    for template_id, schedule_name in await session.exec(statement):
        usage.setdefault(template_id, []).append(schedule_name)
    return usage


@dataclass
class TemplateInput:
    """The template editor's fields as submitted (textarea line ends made plain `\\n`)."""

    name: str = ""
    tone: str = TONES[0]
    subject: str = ""
    body: str = ""

    @classmethod
    def of(cls, template: Template) -> TemplateInput:
        return cls(template.name, template.tone, template.subject, template.body)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TemplateInput:
        def text(name: str) -> str:
            return str(form.get(name, "")).replace("\r\n", "\n").replace("\r", "\n")

        return cls(clean_name(text("name")), text("tone").strip(), text("subject"), text("body"))


@dataclass
class TemplateErrors:
    fields: dict[str, str] = field(default_factory=dict)
    problems: list[TemplateProblem] = field(default_factory=list)
    """What `check_template` found; each belongs to the subject or the body."""

    def __bool__(self) -> bool:
        return bool(self.fields or self.problems)

    def of_part(self, part: str) -> list[TemplateProblem]:
        return [problem for problem in self.problems if problem.part == part]


async def check_template_input(
    session: AsyncSession, org_id: int, data: TemplateInput, template_id: int | None
) -> TemplateErrors:
    others = [t.name for t in await org_templates(session, org_id) if t.id != template_id]
    errors = TemplateErrors()
    problem = name_problem(data.name, others, "template")
    if problem:
        errors.fields["name"] = problem
    if data.tone not in TONES:
        errors.fields["tone"] = "Choose friendly, firm or final."
    if len(data.subject) > 500:
        errors.fields["subject"] = "Keep the subject under 500 characters."
    # It waits for a renderer process: off the event loop.
    errors.problems = await asyncio.to_thread(check_template, data.subject, data.body)
    return errors


async def save_template(
    session: AsyncSession, org_id: int, data: TemplateInput, template: Template | None
) -> Template:
    """Write a checked template (callers run `check_template_input` first)."""
    template = template or Template(organisation_id=org_id, name=data.name)
    template.name, template.tone = data.name, data.tone
    template.subject, template.body = data.subject, data.body
    session.add(template)
    await session.commit()
    return template


async def delete_template(session: AsyncSession, template: Template) -> None:
    used_by = (await template_usage(session, template.organisation_id)).get(template.id)
    if used_by:
        raise Refused(
            f"“{template.name}” is used by the schedule{'s' if len(used_by) > 1 else ''} "
            f"{', '.join(f'“{name}”' for name in used_by)}: choose another template for "
            "those steps first."
        )
    try:
        await session.delete(template)
        await session.commit()
    except IntegrityError as error:  # a step started using it in the meantime
        await session.rollback()
        raise Refused(f"A schedule uses “{template.name}” now: it was not deleted.") from error


# --- real data for the template preview ----------------------------------------------------------


def _open_invoices(org_id: int):
    return select(Invoice).where(
        Invoice.organisation_id == org_id,
        Invoice.status == InvoiceStatus.OPEN,
        Invoice.amount_due > 0,
    )


async def customers_with_open_invoices(
    session: AsyncSession, org_id: int, limit: int = 300
) -> list[tuple[int, str]]:
    owing = _open_invoices(org_id).with_only_columns(col(Invoice.customer_id))
    statement = (
        select(Customer.id, Customer.name)
        .where(Customer.organisation_id == org_id, col(Customer.id).in_(owing))
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    return [(row_id, name) for row_id, name in await session.exec(statement)]


async def real_context(
    session: AsyncSession, organisation: Organisation, customer: Customer, payment_link: str
) -> ReminderContext | None:
    """What a reminder to `customer` would cover today, or None when nothing is open."""
    invoices = (
        await session.exec(
            _open_invoices(organisation.id)
            .where(Invoice.customer_id == customer.id)
            .order_by(Invoice.due_date, Invoice.number)
        )
    ).all()
    if not invoices:
        return None
    contact = (
        await session.exec(
            select(Contact)
            .where(
                Contact.organisation_id == organisation.id,
                Contact.customer_id == customer.id,
                Contact.kind == ContactKind.NORMAL,
            )
            .order_by(Contact.id)
            .limit(1)
        )
    ).first()
    today = _customer_today(organisation, customer)
    return context_for(organisation, customer, contact, invoices, payment_link, today)


def _customer_today(organisation: Organisation, customer: Customer) -> date:
    """Days overdue count to today where the customer is (their zone, else the organisation's)."""
    try:
        zone = zone_named(customer.timezone or organisation.timezone)
    except ValueError:
        zone = zone_named(organisation.timezone)
    return datetime.now(zone).date()
