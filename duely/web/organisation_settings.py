"""The organisation settings a user confirms after connecting, validated and saved once for
page and API."""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from zoneinfo import available_timezones

import holidays
from holidays.registry import COUNTRIES
from litestar import Request
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.chase_control import start_all_chases
from duely.models import ChaseMode, Organisation
from duely.statement_schedules import ensure_statement_schedule

CURRENCIES = (
    "AUD",
    "CAD",
    "CHF",
    "DKK",
    "EUR",
    "GBP",
    "HKD",
    "JPY",
    "NOK",
    "NZD",
    "SEK",
    "SGD",
    "USD",
    "ZAR",
)


@cache
def countries() -> dict[str, str]:
    """ISO code -> readable name, for every country whose public holidays we know."""
    names = {}
    for entry in COUNTRIES.values():
        class_name, code = entry[0], entry[1]
        names[code] = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)
    return dict(sorted(names.items(), key=lambda item: item[1]))


@cache
def timezones() -> list[str]:
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


@cache
def subdivisions(country: str) -> list[str]:
    """The regions of a country that have their own public holidays (ENG, SCT... in GB)."""
    return list(holidays.list_supported_countries().get(country, []))


WEEKDAYS = (
    ("1", "Mon"),
    ("2", "Tue"),
    ("3", "Wed"),
    ("4", "Thu"),
    ("5", "Fri"),
    ("6", "Sat"),
    ("7", "Sun"),
)


class OrganisationSettings(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    country: str
    subdivision: str = ""
    timezone: str
    base_currency: str
    send_window_start: time
    send_window_end: time
    send_days: str = "12345"
    chase_mode: ChaseMode
    sender_name: str = Field(default="", max_length=200)
    sender_email: str = Field(default="", max_length=320)
    statement_day: int | None = Field(default=None, ge=1, le=28)
    """Day of the month for statements to every owing customer; None sends none."""

    @field_validator("name", "sender_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in countries():
            raise ValueError(f"unknown country code {value!r}")
        return value

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().upper()
        country = info.data.get("country")
        if value and country and value not in subdivisions(country):
            known = ", ".join(subdivisions(country)) or "none"
            raise ValueError(f"{country} has no region {value!r} (known: {known})")
        return value

    @field_validator("send_days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        days = "".join(sorted(set(value)))
        if not days or not set(days) <= set("1234567"):
            raise ValueError("choose at least one day of the week")
        return days

    @field_validator("statement_day", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("sender_email")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(
                "give an email address such as accounts@example.com, or leave it empty"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in timezones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/London")
        return value

    @field_validator("base_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("use a three-letter ISO 4217 code such as GBP")
        return value

    @field_validator("send_window_end")
    @classmethod
    def _window_in_order(cls, value: time, info: ValidationInfo) -> time:
        start = info.data.get("send_window_start")
        if start is not None and start >= value:
            raise ValueError("the send window must start before it ends")
        return value

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationSettings:
        return cls.model_validate(organisation, from_attributes=True)

    def apply_to(self, organisation: Organisation) -> None:
        for field, value in self.model_dump().items():
            setattr(organisation, field, value)


def error_messages(error) -> dict[str, str]:
    """Pydantic errors as {field: message} for a form; model-level errors go under `form`."""
    messages: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "form"
        messages.setdefault(field, item["msg"].removeprefix("Value error, "))
    return messages


async def save_settings(
    request: Request,
    session: AsyncSession,
    organisation: Organisation,
    cleaned: OrganisationSettings,
) -> None:
    """Write the settings; switching chasing on starts the chase of every open invoice, and
    the statement schedule follows the statement day, zone and window."""
    was_off = organisation.chase_mode == ChaseMode.OFF
    had_statements = organisation.statement_day is not None
    cleaned.apply_to(organisation)
    await session.commit()
    state = request.app.state
    if was_off and cleaned.chase_mode != ChaseMode.OFF:
        await start_all_chases(
            await state.temporal(), state.settings.temporal_task_queue, organisation.id
        )
    if had_statements or organisation.statement_day is not None:
        await ensure_statement_schedule(await state.temporal(), state.settings, organisation)
