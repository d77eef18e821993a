"""Schedule steps as a person types them into the schedule editor: read from the form, added,
removed or moved, and checked into clean steps (or a message per field)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from duely.models import (
    Channel,
    ContactKind,
    ScheduleStep,
)
from duely.outbox.send_times import StepTiming


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


# Bounds that catch typos (a 3650-day offset is ten years) and keep every preview short.
MAX_STEPS = 30
MAX_OFFSET_DAYS = 3650
MAX_REPEAT_EVERY_DAYS = 365
MAX_REPEAT_TIMES = 52

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
