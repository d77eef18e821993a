"""The organisation settings a user confirms after connecting, validated and saved once for
page and API."""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Literal
from zoneinfo import available_timezones

import holidays
from cryptography.fernet import InvalidToken
from holidays.registry import COUNTRIES
from litestar import Request
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.chase.control import start_all_chases
from duely.core.security import SecretBox
from duely.models import ChaseMode, Organisation
from duely.payments.stripe_accounts import stripe_account_of
from duely.settings import Settings
from duely.statements.schedule import ensure_statement_schedule
from duely.web.chase import ChaseEngineDown, chase_engine, retry_waiting_payments

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


# How /schema documents a time of day: Litestar's default for `time` is an ISO 8601 duration,
# which the "09:00:00" the API answers is not.
CLOCK_TIME = {"format": None, "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"}


class OrganisationSettings(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    country: str
    subdivision: str = ""
    timezone: str
    base_currency: str
    send_window_start: time = Field(json_schema_extra=CLOCK_TIME)
    send_window_end: time = Field(json_schema_extra=CLOCK_TIME)
    send_days: str = "12345"
    chase_mode: ChaseMode
    sender_name: str = Field(default="", max_length=200)
    sender_email: str = Field(default="", max_length=320)
    statement_day: int | None = Field(default=None, ge=1, le=28)
    """Day of the month for statements to every owing customer; None sends none."""

    @field_validator("name", "sender_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        # Both go into email headers (From, the signature): a line break there would end
        # the header early and break every email the organisation sends.
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("a name is one line: no line breaks or control characters")
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


def error_messages(error: ValidationError) -> dict[str, str]:
    """Pydantic errors as {field: message} for a form; model-level errors go under `form`."""
    messages: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "form"
        messages.setdefault(field, item["msg"].removeprefix("Value error, "))
    return messages


STATEMENT_TIMING = ("statement_day", "timezone", "send_window_start")
"""What the statement schedule is made of (duely.statements.schedule)."""


async def save_settings(
    request: Request,
    session: AsyncSession,
    organisation: Organisation,
    cleaned: OrganisationSettings,
) -> None:
    """Write the settings (with whatever else the caller changed on `organisation`), and tell
    the chase engine (Temporal) what follows from them: switching chasing on starts the chase
    of every open invoice, and the statement schedule follows the statement day, zone and
    window.

    When that needs the chase engine and it cannot be reached, ChaseEngineDown is raised and
    nothing is saved: nothing would start the chases or move the schedule later, so saving
    anyway would show chasing on while no invoice is chased. Should the engine fail half-way,
    the organisation is written back as it was stored (a schedule already moved then stays
    moved until the next save)."""
    starts_chasing = (
        organisation.chase_mode == ChaseMode.OFF and cleaned.chase_mode != ChaseMode.OFF
    )
    reschedules = (organisation.statement_day, cleaned.statement_day) != (None, None) and any(
        getattr(organisation, name) != getattr(cleaned, name) for name in STATEMENT_TIMING
    )
    cleaned.apply_to(organisation)
    if not (starts_chasing or reschedules):
        await session.commit()
        return
    state = request.app.state
    async with state.db.session() as other:
        stored = (await other.get(Organisation, organisation.id)).model_dump()
    try:
        async with chase_engine(state) as client:
            if reschedules:
                await ensure_statement_schedule(client, state.settings, organisation)
            await session.commit()
            if starts_chasing:  # after the commit: the chases read the organisation as stored
                await start_all_chases(client, state.settings.temporal_task_queue, organisation.id)
    except ChaseEngineDown:
        # Back as stored, in this session too (written again if the commit above happened):
        # the caller's later commits must not save this request's changes after all.
        organisation.sqlmodel_update(stored)
        await session.commit()
        raise


# --- card payments (Stripe) ------------------------------------------------------------------
#
# Secrets are write-only: a form or API call may set or remove them, never read them back. An
# empty secret field keeps what is stored, so saving the other fields needs no re-typing.

SECRET_KEY = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9_]{4,200}")
PUBLISHABLE_KEY = re.compile(r"pk_(test|live)_[A-Za-z0-9_]{4,190}")
WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_]{4,200}")
PAYMENT_ACCOUNT = re.compile(r"(\*|[A-Z]{3})=([A-Za-z0-9._/-]{1,50})")
PAYMENT_ACCOUNTS_EXAMPLE = "GBP=090 EUR=091 *=615"
MAX_PAYMENT_ACCOUNTS = 500
SECRET_PREFIXES = ("sk_", "rk_", "whsec_")
SHOWN_STRIPE_FIELDS = ("publishable_key", "payment_accounts")
"""The card payment settings that are not secret, so a form shows them back."""


def looks_secret(value: object) -> bool:
    """A secret typed into a field that is shown back (e.g. the publishable key) must not be."""
    return isinstance(value, str) and value.strip().startswith(SECRET_PREFIXES)


class StripeChange(BaseModel):
    """Card payment settings as submitted by the settings form or `PATCH /organisation`."""

    secret_key: str = ""
    """`sk_...` (or a restricted `rk_...`); empty keeps the stored key."""
    remove_secret_key: bool = False
    account_id: str = ""
    """Refused when given: a Connect account is linked only through Stripe's own sign-in
    (duely.web.stripe_connect), so nobody can name another business's account."""
    publishable_key: str = ""
    webhook_secret: str = ""
    """`whsec_...` of the business's own webhook endpoint; empty keeps the stored one."""
    remove_webhook_secret: bool = False
    payment_accounts: str = ""

    @field_validator("secret_key", "account_id", "publishable_key", "webhook_secret")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        if value.startswith("pk_"):
            raise ValueError("this is the publishable key (pk_...): the secret key starts with sk_")
        if value and not SECRET_KEY.fullmatch(value):
            raise ValueError(
                "a Stripe secret key starts with sk_test_ or sk_live_ (rk_ for a restricted "
                "key); copy it from the Stripe dashboard's API keys page"
            )
        return value

    @field_validator("publishable_key")
    @classmethod
    def _publishable_key(cls, value: str) -> str:
        if looks_secret(value):
            raise ValueError(
                "this is a secret, not the publishable key: the publishable key starts with "
                "pk_ (nothing was saved, and the secret is not shown again)"
            )
        if value and not PUBLISHABLE_KEY.fullmatch(value):
            raise ValueError("a Stripe publishable key starts with pk_test_ or pk_live_")
        return value

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if value:
            raise ValueError(
                "a Connect account is linked through Stripe's sign-in, not typed in: use "
                "Connect with Stripe on the settings page"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        if value and not WEBHOOK_SECRET.fullmatch(value):
            raise ValueError(
                "a Stripe webhook signing secret starts with whsec_; find it on the webhook "
                "endpoint's page in the Stripe dashboard"
            )
        return value

    @field_validator("payment_accounts")
    @classmethod
    def _payment_accounts(cls, value: str) -> str:
        """One `CUR=code` per currency, separated by spaces or commas; `*` for any other."""
        items = value.replace(",", " ").split()
        seen: set[str] = set()
        cleaned = []
        for item in items:
            currency, sep, code = item.partition("=")
            currency = currency.upper()
            if not PAYMENT_ACCOUNT.fullmatch(f"{currency}{sep}{code}"):
                raise ValueError(
                    f"{item!r} is not CUR=account: write one currency code (or * for any "
                    f"other) and its ledger account per currency, e.g. {PAYMENT_ACCOUNTS_EXAMPLE}"
                )
            if currency in seen:
                raise ValueError(f"{currency} is given more than one account")
            seen.add(currency)
            cleaned.append(f"{currency}={code}")
        joined = " ".join(cleaned)
        if len(joined) > MAX_PAYMENT_ACCOUNTS:
            raise ValueError(f"at most {MAX_PAYMENT_ACCOUNTS} characters")
        return joined

    @model_validator(mode="after")
    def _set_or_remove(self) -> StripeChange:
        if self.remove_secret_key and self.secret_key:
            raise ValueError("give a new secret key or remove the stored one, not both")
        if self.remove_webhook_secret and self.webhook_secret:
            raise ValueError("give a new webhook secret or remove the stored one, not both")
        return self

    @classmethod
    def shown_fields(cls, organisation: Organisation) -> dict[str, str]:
        """The stored values of SHOWN_STRIPE_FIELDS, under this model's names."""
        return {
            "publishable_key": organisation.stripe_publishable_key,
            "payment_accounts": organisation.payment_accounts,
        }

    def apply_to(self, organisation: Organisation, box: SecretBox) -> None:
        if self.remove_secret_key:
            organisation.stripe_secret_key_encrypted = ""
        elif self.secret_key:
            organisation.stripe_secret_key_encrypted = box.encrypt(self.secret_key)
        if self.remove_webhook_secret:
            organisation.stripe_webhook_secret_encrypted = ""
        elif self.webhook_secret:
            organisation.stripe_webhook_secret_encrypted = box.encrypt(self.webhook_secret)
        organisation.stripe_publishable_key = self.publishable_key
        organisation.payment_accounts = self.payment_accounts


StripeMode = Literal["own key", "connect", "off"]


class StripeView(BaseModel):
    """What anyone may read about the card payment settings: never a secret, only whether
    one is set (and the secret key's last four characters, as Stripe's dashboard shows)."""

    mode: StripeMode
    """"own key": the business's secret key; "connect": the platform's key on the business's
    `acct_...`; "off": neither is set."""
    ready: bool
    """Whether card payments can be taken with these settings and this server's."""
    not_ready_because: str
    publishable_key: str
    account_id: str
    secret_key_set: bool
    secret_key_last4: str
    webhook_secret_set: bool
    payment_accounts: str

    @classmethod
    def of(cls, settings: Settings, organisation: Organisation) -> StripeView:
        box = SecretBox(settings.resolved_secret_key)
        unreadable = ""
        try:
            secret_key = box.decrypt(organisation.stripe_secret_key_encrypted)
            box.decrypt(organisation.stripe_webhook_secret_encrypted)
        except InvalidToken:
            # Stored under another DUELY_SECRET_KEY: useless until typed in again.
            secret_key = ""
            unreadable = (
                "a stored secret cannot be read with this server's DUELY_SECRET_KEY: "
                "enter the secret key and webhook secret again"
            )
        if organisation.stripe_secret_key_encrypted:
            mode: StripeMode = "own key"
        elif organisation.stripe_account_id:
            mode = "connect"
        else:
            mode = "off"
        because = unreadable or _not_ready_because(settings, organisation, mode)
        return cls(
            mode=mode,
            ready=not because,
            not_ready_because=because,
            publishable_key=organisation.stripe_publishable_key,
            account_id=organisation.stripe_account_id,
            secret_key_set=bool(organisation.stripe_secret_key_encrypted),
            secret_key_last4=secret_key[-4:],
            webhook_secret_set=bool(organisation.stripe_webhook_secret_encrypted),
            payment_accounts=organisation.payment_accounts,
        )


def _not_ready_because(settings: Settings, organisation: Organisation, mode: StripeMode) -> str:
    if stripe_account_of(settings, organisation) is not None:
        return ""
    if mode == "off":
        return "no Stripe secret key or Connect account id is set"
    if mode == "connect" and not settings.stripe_secret_key:
        return (
            "Connect needs the platform's key (DUELY_STRIPE_SECRET_KEY), and this server has none"
        )
    return "no publishable key is set here or on the server (DUELY_STRIPE_PUBLISHABLE_KEY)"


def stripe_error_messages(error: ValidationError) -> dict[str, str]:
    """Like `error_messages`; a model-level error (set and remove together) goes on the field."""
    messages = error_messages(error)
    form = messages.pop("form", "")
    if form:
        field = "webhook_secret" if "webhook" in form else "secret_key"
        messages.setdefault(field, form)
    return messages


async def save_stripe(
    request: Request, session: AsyncSession, organisation: Organisation, change: StripeChange
) -> None:
    change.apply_to(organisation, SecretBox(request.app.state.settings.resolved_secret_key))
    session.add(organisation)
    await session.commit()
    await retry_waiting_payments(request.app.state, session, organisation.id)
