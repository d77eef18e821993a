"""Xero's date formats.

Xero (a .NET service) writes dates as `/Date(1539993600000+0000)/` (milliseconds since the
epoch, UTC), the response envelope's DateTimeUTC without the offset, and adds readable twins
such as `DateString: "2018-10-20T00:00:00"`. Requests write dates as `YYYY-MM-DD`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime

MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def epoch_ms(value: date | datetime) -> int:
    return int(_as_datetime(value).timestamp() * 1000)


def ms_date(value: date | datetime) -> str:
    """`/Date(1539993600000+0000)/`: how Xero writes Date, DueDate, UpdatedDateUTC."""
    return f"/Date({epoch_ms(value)}+0000)/"


def ms_timestamp(value: datetime) -> str:
    """`/Date(1552326816230)/`: the envelope's DateTimeUTC, which carries no offset."""
    return f"/Date({epoch_ms(value)})/"


def date_string(value: date) -> str:
    """`2018-10-20T00:00:00`: the DateString/DueDateString twin of a date."""
    return f"{value.isoformat()}T00:00:00"


def utc_string(value: datetime) -> str:
    """`2018-11-02T16:31:30Z`: the UpdatedDateUTCString twin."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connection_timestamp(value: datetime) -> str:
    """`2019-12-07T18:46:19.5165400`: the identity service's style (seven digits, no zone)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def webhook_timestamp(value: datetime) -> str:
    """`2017-06-21T01:15:39.902`: eventDateUtc in webhook payloads (milliseconds, no zone)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def parse_ms_date(value: str) -> datetime:
    match = MS_DATE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a /Date(...)/ value")
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)


def parse_request_date(value: object) -> date:
    """A date written by a client: `YYYY-MM-DD`, an ISO date-time, or `/Date(...)/`."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    if text.startswith("/Date("):
        return parse_ms_date(text).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError as error:
        raise ValueError(f"{value!r} is not a date") from error


def parse_if_modified_since(value: str) -> datetime:
    """The If-Modified-Since header as Xero takes it.

    Xero documents `2009-11-12T00:00:00` (UTC, fractions and an offset allowed); the HTTP
    form `Sat, 01 Nov 2025 10:00:00 GMT` is accepted too.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{value!r} is not a timestamp") from error
    return _as_datetime(moment)
