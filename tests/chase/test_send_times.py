"""Send moments across DST changes, weekends and public holidays. Expected instants are worked out
by hand from the 2026 clock changes and holiday calendars, not computed by the code under test."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from temporalio import workflow
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from duely.outbox import send_times
from duely.outbox.send_times import (
    SendWindow,
    StepTiming,
    is_business_day,
    next_send_moment,
    preview,
    step_send_moment,
    wall_time_to_utc,
)

# Bare "GB" is the UK-wide calendar; "ENG" adds England's own bank holidays.
LONDON = SendWindow(time(9), time(17), "GB", "Europe/London")
ENGLAND = SendWindow(time(9), time(17), "GB", "Europe/London", subdivision="ENG")
NEW_YORK = SendWindow(time(9), time(17), "US", "America/New_York")
AUCKLAND = SendWindow(time(9), time(17), "NZ", "Pacific/Auckland")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def send_on(day: date, window: SendWindow, offset_days: int = 0) -> datetime:
    return step_send_moment(day, StepTiming("step", offset_days), window)


# --- Europe/London: clocks change on 29 March and 25 October 2026 ----------------------------


def test_london_nine_oclock_is_nine_utc_in_winter_and_eight_utc_in_summer():
    assert send_on(date(2026, 3, 27), LONDON) == utc(2026, 3, 27, 9)  # Friday, GMT
    assert send_on(date(2026, 3, 30), LONDON) == utc(2026, 3, 30, 8)  # Monday, BST
    assert send_on(date(2026, 10, 23), LONDON) == utc(2026, 10, 23, 8)  # Friday, BST
    assert send_on(date(2026, 10, 26), LONDON) == utc(2026, 10, 26, 9)  # Monday, GMT


def test_london_saturday_step_moves_to_monday():
    assert send_on(date(2026, 3, 28), LONDON) == utc(2026, 3, 30, 8)


def test_london_christmas_and_boxing_day_2026_move_to_tuesday_29th():
    uk = holidays.country_holidays("GB", years=2026)
    assert date(2026, 12, 25) in uk  # Friday
    assert date(2026, 12, 26) in uk  # Saturday
    assert uk[date(2026, 12, 28)] == "Boxing Day (observed)"  # the substitute Monday
    for due in (date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28)):
        assert send_on(due, LONDON) == utc(2026, 12, 29, 9)
        assert send_on(due, ENGLAND) == utc(2026, 12, 29, 9)


def test_bare_gb_keeps_easter_monday_as_a_business_day_but_england_does_not():
    easter_monday = date(2026, 4, 6)
    assert is_business_day(easter_monday, LONDON)
    assert not is_business_day(easter_monday, ENGLAND)
    assert send_on(easter_monday, ENGLAND) == utc(2026, 4, 7, 8)


# --- America/New_York: clocks change on 8 March and 1 November 2026 --------------------------


def test_new_york_nine_oclock_follows_the_clock_changes():
    assert send_on(date(2026, 3, 6), NEW_YORK) == utc(2026, 3, 6, 14)  # Friday, EST
    assert send_on(date(2026, 3, 9), NEW_YORK) == utc(2026, 3, 9, 13)  # Monday, EDT
    assert send_on(date(2026, 10, 30), NEW_YORK) == utc(2026, 10, 30, 13)  # Friday, EDT
    assert send_on(date(2026, 11, 2), NEW_YORK) == utc(2026, 11, 2, 14)  # Monday, EST


def test_new_york_skips_thanksgiving():
    assert send_on(date(2026, 11, 26), NEW_YORK) == utc(2026, 11, 27, 14)


def test_a_wall_time_in_the_spring_forward_gap_becomes_the_end_of_the_gap():
    # 02:30 does not exist on 8 March 2026: clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC).
    assert wall_time_to_utc(date(2026, 3, 8), time(2, 30), "America/New_York") == utc(2026, 3, 8, 7)


def test_an_ambiguous_fall_back_wall_time_is_its_first_occurrence():
    # 01:30 happens twice on 1 November 2026: first in EDT (05:30 UTC), then in EST.
    at = wall_time_to_utc(date(2026, 11, 1), time(1, 30), "America/New_York")
    assert at == utc(2026, 11, 1, 5, 30)


def test_new_york_window_opening_at_half_past_two_skips_the_gap_sunday():
    early = SendWindow(time(2, 30), time(10), "US", "America/New_York")
    saturday_noon = utc(2026, 3, 7, 17)
    assert next_send_moment(saturday_noon, early) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT


def test_window_opening_in_a_gap_on_a_business_day_opens_when_the_gap_ends():
    # Israel springs forward on Friday 27 March 2026, 02:00 IST -> 03:00 IDT (00:00 UTC).
    early = SendWindow(time(2, 30), time(10), "IL", "Asia/Jerusalem")
    assert send_on(date(2026, 3, 26), early) == utc(2026, 3, 26, 0, 30)  # 02:30 IST
    assert send_on(date(2026, 3, 27), early) == utc(2026, 3, 27, 0, 0)  # 03:00 IDT


# --- Pacific/Auckland: NZDT ends 5 April 2026 and starts 27 September 2026 -------------------


def test_auckland_follows_southern_hemisphere_clock_changes():
    assert send_on(date(2026, 4, 2), AUCKLAND) == utc(2026, 4, 1, 20)  # Thursday, NZDT +13
    # Good Friday, the weekend and Easter Monday pass: Tuesday 7 April, NZST +12.
    assert send_on(date(2026, 4, 3), AUCKLAND) == utc(2026, 4, 6, 21)
    assert send_on(date(2026, 9, 25), AUCKLAND) == utc(2026, 9, 24, 21)  # Friday, NZST
    assert send_on(date(2026, 9, 28), AUCKLAND) == utc(2026, 9, 27, 20)  # Monday, NZDT


def test_auckland_skips_waitangi_day():
    assert send_on(date(2026, 2, 6), AUCKLAND) == utc(2026, 2, 8, 20)  # Monday 9 Feb 09:00


def test_auckland_forewarnings_before_the_due_date():
    due = date(2026, 2, 20)  # a Friday
    local_days = [
        send_on(due, AUCKLAND, offset).astimezone(AUCKLAND.zone).date() for offset in (-14, -3, -1)
    ]
    # -14 is Waitangi Day, so Monday 9th; then Tuesday 17th and Thursday 19th.
    assert local_days == [date(2026, 2, 9), date(2026, 2, 17), date(2026, 2, 19)]


# --- next_send_moment (London in January is GMT, so UTC reads as local) ----------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 14, 11, 15), utc(2026, 1, 14, 11, 15)),  # inside: now
        (utc(2026, 1, 14, 7), utc(2026, 1, 14, 9)),  # before: today's opening
        (utc(2026, 1, 14, 17), utc(2026, 1, 15, 9)),  # the window's end is not in it
        (utc(2026, 1, 14, 18, 30), utc(2026, 1, 15, 9)),  # after: tomorrow's opening
        (utc(2026, 1, 16, 18), utc(2026, 1, 19, 9)),  # Friday evening: Monday
        (utc(2026, 12, 24, 10), utc(2026, 12, 24, 10)),  # Christmas Eve is a working day
        (utc(2026, 12, 24, 17, 30), utc(2026, 12, 29, 9)),  # holiday eve: after the holidays
        (utc(2026, 7, 13, 7, 30), utc(2026, 7, 13, 8)),  # 08:30 BST: opens 09:00 BST
        (utc(2026, 7, 13, 16, 30), utc(2026, 7, 14, 8)),  # 17:30 BST: closed already
    ],
)
def test_next_send_moment(after, expected):
    assert next_send_moment(after, LONDON) == expected


def test_next_send_moment_takes_any_zone_and_answers_in_utc():
    after = datetime(2026, 1, 14, 6, 15, tzinfo=ZoneInfo("America/New_York"))
    moment = next_send_moment(after, LONDON)
    assert moment == utc(2026, 1, 14, 11, 15)
    assert moment.tzinfo is UTC


def test_next_send_moment_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_send_moment(datetime(2026, 1, 14, 11), LONDON)


# --- repeats and the preview -----------------------------------------------------------------


def test_weekly_repeats_land_on_business_days():
    weekly = StepTiming("weekly", offset_days=7, repeat_every_days=7, repeat_max_times=3)
    due = date(2026, 11, 28)  # a Saturday, so every nominal date is a Saturday
    sends = [step_send_moment(due, weekly, LONDON, repeat) for repeat in range(4)]
    assert sends == [
        utc(2026, 12, 7, 9),
        utc(2026, 12, 14, 9),
        utc(2026, 12, 21, 9),
        utc(2026, 12, 29, 9),  # Saturday 26th is Boxing Day, its Monday the substitute
    ]
    with pytest.raises(ValueError, match="no repeat 4"):
        step_send_moment(due, weekly, LONDON, 4)


def test_preview_lists_every_send_in_time_order():
    schedule = [
        StepTiming("due today", 0),
        StepTiming("forewarn", -3),
        StepTiming("final notice", 30),
        StepTiming("nudge", 10, repeat_every_days=7, repeat_max_times=2),
        StepTiming("first chase", 5),
    ]
    sends = preview(schedule, date(2026, 9, 30), LONDON)  # due on a Wednesday

    summary = [(s.label, s.repeat, s.local.strftime("%a %d %b %H:%M"), s.at) for s in sends]
    assert summary == [
        ("forewarn", 0, "Mon 28 Sep 09:00", utc(2026, 9, 28, 8)),  # from Sunday 27th
        ("due today", 0, "Wed 30 Sep 09:00", utc(2026, 9, 30, 8)),
        ("first chase", 0, "Mon 05 Oct 09:00", utc(2026, 10, 5, 8)),
        ("nudge", 0, "Mon 12 Oct 09:00", utc(2026, 10, 12, 8)),  # from Saturday 10th
        ("nudge", 1, "Mon 19 Oct 09:00", utc(2026, 10, 19, 8)),
        ("nudge", 2, "Mon 26 Oct 09:00", utc(2026, 10, 26, 9)),  # GMT again
        ("final notice", 0, "Fri 30 Oct 09:00", utc(2026, 10, 30, 9)),
    ]
    assert all(s.local.tzinfo == LONDON.zone and s.local == s.at for s in sends)


def test_preview_keeps_schedule_order_for_sends_at_the_same_moment():
    schedule = [StepTiming("monday step", 4), StepTiming("saturday step", 2)]
    sends = preview(schedule, date(2026, 10, 1), LONDON)  # both go out on Monday 5 October
    assert [s.label for s in sends] == ["monday step", "saturday step"]
    assert sends[0].at == sends[1].at


# --- round trip: every computed moment reads as inside the window ----------------------------

WINDOWS = [
    ENGLAND,
    NEW_YORK,
    AUCKLAND,
    SendWindow(time(8, 30), time(12), "US", "America/Los_Angeles"),
    SendWindow(time(2, 30), time(10), "IL", "Asia/Jerusalem"),
]


def assert_inside_window(moment: datetime, window: SendWindow) -> None:
    assert moment.utcoffset() == timedelta(0)
    local = moment.astimezone(window.zone)
    assert is_business_day(local.date(), window)
    assert window.start <= local.time() < window.end


def test_step_send_moments_are_the_first_business_day_on_or_after_the_nominal_date():
    rng = random.Random(20260)
    for _ in range(300):
        window = rng.choice(WINDOWS)
        due = date(2026, 1, 1) + timedelta(days=rng.randrange(730))
        offset = rng.randint(-30, 60)
        moment = send_on(due, window, offset)

        assert_inside_window(moment, window)
        nominal = due + timedelta(days=offset)
        skipped = (moment.astimezone(window.zone).date() - nominal).days
        assert skipped >= 0
        assert not any(is_business_day(nominal + timedelta(days=d), window) for d in range(skipped))


def test_next_send_moments_are_inside_a_window_and_never_early():
    rng = random.Random(20261)
    for _ in range(300):
        window = rng.choice(WINDOWS)
        after = utc(2026, 1, 1) + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        moment = next_send_moment(after, window)

        assert moment >= after
        assert_inside_window(moment, window)
        if moment > after:  # nothing in between may be inside the window
            assert next_send_moment(moment - timedelta(minutes=1), window) == moment


# --- validation and caching ------------------------------------------------------------------


def test_window_must_end_after_it_starts():
    with pytest.raises(ValueError, match="end after it starts"):
        SendWindow(time(17), time(9), "GB", "Europe/London")
    with pytest.raises(ValueError, match="end after it starts"):
        SendWindow(time(9), time(9), "GB", "Europe/London")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "America", "", "../etc/passwd"])
def test_unknown_time_zone_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match=f"unknown time zone {name!r}"):
        SendWindow(time(9), time(17), "GB", name)


def test_unknown_country_means_no_holidays():
    nowhere = SendWindow(time(9), time(17), "XX", "Europe/London")
    assert send_on(date(2026, 12, 25), nowhere) == utc(2026, 12, 25, 9)


def test_unknown_subdivision_falls_back_to_the_country_calendar():
    typo = SendWindow(time(9), time(17), "GB", "Europe/London", subdivision="ENGLAND")
    assert send_on(date(2026, 12, 25), typo) == utc(2026, 12, 29, 9)


@pytest.mark.parametrize(
    "step",
    [
        {"repeat_every_days": 7},
        {"repeat_max_times": 2},
        {"repeat_every_days": 0, "repeat_max_times": 2},
        {"repeat_every_days": 7, "repeat_max_times": -1},
    ],
)
def test_repeat_rules_are_validated(step):
    with pytest.raises(ValueError, match="repeat"):
        StepTiming("step", 0, **step)


def test_holiday_calendars_are_built_once_per_country_and_year(monkeypatch):
    built = []
    real = holidays.country_holidays

    def counting(country, **kwargs):
        built.append((country, kwargs["years"]))
        return real(country, **kwargs)

    monkeypatch.setattr(send_times.holidays, "country_holidays", counting)
    send_times._public_holidays.cache_clear()
    weekly = StepTiming("weekly", 0, repeat_every_days=7, repeat_max_times=10)
    preview([weekly], date(2026, 11, 2), LONDON)
    preview([weekly], date(2026, 11, 2), LONDON)
    send_times._public_holidays.cache_clear()  # leave no counted calendar behind
    assert built == [("GB", 2026), ("GB", 2027)]


# --- inside Temporal's workflow sandbox ------------------------------------------------------

GERMANY = SendWindow(time(9), time(17), "DE", "Europe/Berlin")


# Any exception fails the workflow, so a sandbox violation fails the test instead of retrying.
@workflow.defn(sandboxed=True, failure_exception_types=[Exception])
class PreviewInSandbox:
    @workflow.run
    async def run(self) -> list[datetime]:
        # holidays reads its gettext catalogues when it builds a calendar (deterministic, but a
        # file read the sandbox forbids), so calendar-building calls run unrestricted.
        with workflow.unsafe.sandbox_unrestricted():
            sends = preview([StepTiming("christmas", 0)], date(2031, 12, 25), GERMANY)
            return [send.at for send in sends] + [next_send_moment(workflow.now(), GERMANY)]


async def test_works_inside_the_workflow_sandbox(time_skipping_env):
    # Passed through: in the sandbox ZoneInfo is a proxy that datetime rejects, and passing
    # through keeps one calendar cache for every workflow run.
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "duely.chase", "duely.outbox"
    )
    queue = f"send-times-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[PreviewInSandbox],
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
    ):
        christmas, next_moment = await time_skipping_env.client.execute_workflow(
            PreviewInSandbox.run, id=queue, task_queue=queue, result_type=list[datetime]
        )
    # Christmas Day and the second day of Christmas 2031 are a Thursday and a Friday.
    assert christmas == utc(2031, 12, 29, 8)
    assert_inside_window(next_moment, GERMANY)
