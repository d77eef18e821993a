"""When a reminder may go out: send windows, business days and the send moment of each step.

InvoiceChaseWorkflow, CustomerOutboxWorkflow and the UI's schedule preview must agree to the
second, so this module is pure: no I/O, settings or clock (callers pass "now"), and it imports
only the stdlib and `holidays`, which keeps it usable inside Temporal's workflow sandbox.

The rules:

- Every result is an aware UTC datetime (what Temporal timers take). Dates and wall times are
  read in the window's zone: the customer's timezone override, else the organisation's.
- A send window is [start, end) local time on its send days (Monday to Friday unless the
  organisation chose otherwise), minus the public holidays of its
  country (and of its subdivision, when one is given). An unknown country means no holidays; an
  unknown subdivision falls back to the country-wide holidays.
- GB without a subdivision gets only the holidays common to the whole UK (so neither Easter
  Monday nor England's August bank holiday); give "ENG", "SCT", "WLS" or "NIR" for one nation.
- A step's send date is the due date plus its offset in days (plus k times its interval for its
  k-th repeat), moved forward to the next business day; it goes out when the window opens.
- Wall times are resolved day by day, so a 09:00 start stays 09:00 local on both sides of a DST
  change and its UTC instant moves by the shift. A wall time in a spring-forward gap (02:30 when
  clocks jump from 02:00 to 03:00) becomes the first instant after the gap (03:00 new time). An
  ambiguous fall-back wall time means its first occurrence (fold=0).

In a workflow: pass this module and `holidays` through the sandbox (re-imported there, ZoneInfo
is a proxy that datetime rejects; passed through, one calendar cache serves every run), and call
it under `workflow.unsafe.sandbox_unrestricted()`: building a calendar reads holidays' bundled
gettext catalogues, a file read the sandbox refuses (only dates are used, so it is deterministic).
tests/chase/test_send_times.py runs it that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

MONDAY_TO_FRIDAY = "12345"


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # ZoneInfo raises KeyError for a missing zone, OSError for a folder ("America"), ValueError
    # for a malformed key; callers only need to know the name is wrong.
    except (ZoneInfoNotFoundError, OSError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


@dataclass(frozen=True)
class SendWindow:
    """Where and when reminders may go out: [start, end) local time on business days."""

    start: time
    end: time
    country: str
    """ISO 3166 alpha-2; picks the public holidays skipped."""
    timezone: str
    """IANA name: the customer's timezone override, else the organisation's."""
    subdivision: str | None = None
    """A region with its own holidays (e.g. "ENG" in GB); None means the country-wide ones."""
    days: str = MONDAY_TO_FRIDAY
    """The weekdays reminders may go out on, as ISO numbers (1 Monday ... 7 Sunday)."""

    def __post_init__(self) -> None:
        if not self.days or not set(self.days) <= set("1234567"):
            raise ValueError(f"send days are ISO weekday numbers 1-7, got {self.days!r}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("send window times are local wall times: give them without tzinfo")
        if self.end <= self.start:
            raise ValueError(f"send window must end after it starts, got {self.start}-{self.end}")
        zone_named(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.timezone)


@dataclass(frozen=True)
class StepTiming:
    """The "when" of one schedule step; `label` is the caller's and is carried through as is."""

    label: str
    offset_days: int
    """Days from the due date; negative sends before the invoice is due."""
    repeat_every_days: int | None = None
    repeat_max_times: int | None = None
    """Repeats after the first send, so a step sends at most 1 + repeat_max_times times."""

    def __post_init__(self) -> None:
        if (self.repeat_every_days is None) != (self.repeat_max_times is None):
            raise ValueError("a repeating step needs both repeat_every_days and repeat_max_times")
        if self.repeat_every_days is not None and self.repeat_every_days < 1:
            raise ValueError(f"repeat_every_days must be at least 1, got {self.repeat_every_days}")
        if self.repeat_max_times is not None and self.repeat_max_times < 0:
            raise ValueError(f"repeat_max_times must not be negative, got {self.repeat_max_times}")

    @property
    def send_count(self) -> int:
        return 1 + (self.repeat_max_times or 0)


@dataclass(frozen=True)
class PlannedSend:
    label: str
    repeat: int
    """0 for the step's own send, k for its k-th repeat."""
    local: datetime
    """The moment as the customer reads it (aware, in the window's zone)."""
    at: datetime
    """The same moment in UTC."""


@lru_cache(maxsize=128)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Built on first use and kept, so a workflow planning many steps builds each year once; a
    # frozenset so no caller can change the cached calendar.
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:  # holidays' answer to an unknown country or subdivision
        return frozenset() if subdivision is None else _public_holidays(country, None, year)
    return frozenset(calendar)


def is_business_day(day: date, window: SendWindow) -> bool:
    subdivision = window.subdivision.upper() if window.subdivision else None
    holidays_that_year = _public_holidays(window.country.upper(), subdivision, day.year)
    return str(day.isoweekday()) in window.days and day not in holidays_that_year


def next_business_day(day: date, window: SendWindow) -> date:
    """`day` itself if it is a business day, else the first business day after it."""
    while not is_business_day(day, window):
        day += timedelta(days=1)
    return day


def wall_time_to_utc(day: date, wall: time, timezone: str) -> datetime:
    """The UTC instant of `wall` on `day` in `timezone`, by the DST rules of the module doc."""
    zone = zone_named(timezone)
    local = datetime.combine(day, wall.replace(tzinfo=None), tzinfo=zone)  # fold=0: first one
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # A wall time in a gap read with the offset after the change (fold=1) gives an instant
    # before the change, and read with the offset before it (fold=0) an instant after it: the
    # change lies in between. Bisect to it (tzdata puts changes on whole seconds).
    old_offset_side = int(local.replace(fold=1).timestamp())
    new_offset_side = int(instant.timestamp())
    new_offset = instant.astimezone(zone).utcoffset()
    while new_offset_side - old_offset_side > 1:
        middle = (old_offset_side + new_offset_side) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            new_offset_side = middle
        else:
            old_offset_side = middle
    return datetime.fromtimestamp(new_offset_side, UTC)


def _window_opens(day: date, window: SendWindow) -> datetime:
    return wall_time_to_utc(day, window.start, window.timezone)


def step_send_moment(
    due_date: date, step: StepTiming, window: SendWindow, repeat: int = 0
) -> datetime:
    """When the `repeat`-th repeat of `step` goes out (0 = the step's own send)."""
    if not 0 <= repeat < step.send_count:
        raise ValueError(f"step {step.label!r} has no repeat {repeat}")
    days = step.offset_days + repeat * (step.repeat_every_days or 0)
    return _window_opens(next_business_day(due_date + timedelta(days=days), window), window)


def next_send_moment(after: datetime, window: SendWindow) -> datetime:
    """The earliest moment at or after `after` that lies inside a send window."""
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware")
    after = after.astimezone(UTC)
    today = after.astimezone(window.zone).date()
    if is_business_day(today, window):
        opens = _window_opens(today, window)
        if after < opens:
            return opens
        if after < wall_time_to_utc(today, window.end, window.timezone):
            return after
    return _window_opens(next_business_day(today + timedelta(days=1), window), window)


def send_windows(after: datetime, window: SendWindow, days: int) -> list[tuple[datetime, datetime]]:
    """The send windows (opens, closes) of the next `days` days that are still open after
    `after`, in UTC."""
    first = after.astimezone(window.zone).date()
    windows = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        if is_business_day(day, window):
            closes = wall_time_to_utc(day, window.end, window.timezone)
            if closes > after:
                windows.append((_window_opens(day, window), closes))
    return windows


def preview(steps: Sequence[StepTiming], due_date: date, window: SendWindow) -> list[PlannedSend]:
    """Every planned send of a schedule in time order; ties keep the schedule's order."""
    zone = window.zone
    sends = []
    for step in steps:
        for repeat in range(step.send_count):
            at = step_send_moment(due_date, step, window, repeat)
            sends.append(PlannedSend(step.label, repeat, at.astimezone(zone), at))
    return sorted(sends, key=lambda send: send.at)
