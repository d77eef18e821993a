"""Tenants, the people who use duely, and their API tokens."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from duely.models.base import OrgScoped, optional_timestamp, timestamp
from duely.models.ledger import Customer


class ChaseMode(StrEnum):
    ALL = "all"
    SELECTED = "selected"
    OFF = "off"
    """Nothing is chased: e.g. while a new organisation reviews what it synced."""


def customer_is_chased(organisation: Organisation, customer: Customer) -> bool:
    """A customer's own switch wins; without one, the organisation's mode decides."""
    if customer.chasing_enabled is not None:
        return customer.chasing_enabled
    return organisation.chase_mode == ChaseMode.ALL


class Role(StrEnum):
    ADMIN = "admin"
    COLLECTOR = "collector"
    VIEWER = "viewer"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"
    # A Stripe Connect account takes one organisation's payments (migration 0006).
    __table_args__ = (
        Index(
            "ux_organisations_stripe_account",
            "stripe_account_id",
            unique=True,
            sqlite_where=text("stripe_account_id <> ''"),
            postgresql_where=text("stripe_account_id <> ''"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    country: str = Field(default="GB", max_length=2)
    """ISO 3166 alpha-2; picks the public holidays that the send window skips."""
    subdivision: str = Field(default="", max_length=8)
    """A region with its own public holidays (ISO 3166-2 suffix, e.g. "ENG" in GB); empty
    means the holidays common to the whole country."""
    timezone: str = Field(default="Europe/London", max_length=64)
    base_currency: str = Field(default="GBP", max_length=3)
    send_window_start: time = Field(default=time(9, 0))
    send_window_end: time = Field(default=time(17, 0))
    send_days: str = Field(default="12345", max_length=7)
    """ISO weekday numbers reminders may go out on (1 Monday ... 7 Sunday)."""
    chase_mode: str = Field(default=ChaseMode.ALL, max_length=16)
    """Chase every customer, or only customers someone switched on."""
    sender_name: str = Field(default="", max_length=200)
    """Signature on reminders; empty means the organisation's name."""
    sender_email: str = Field(default="", max_length=320)
    """From address of reminders; empty means the server's DUELY_MAIL_FROM."""
    statement_day: int | None = Field(default=None)
    """Day of the month (1-28) a statement goes to every customer with open invoices; None
    sends none."""
    stripe_secret_key_encrypted: str = Field(default="")
    """Fernet ciphertext of the business's own `sk_...`; empty when paid through Connect."""
    stripe_account_id: str = Field(default="", max_length=64)
    """`acct_...`: the business's account, charged under the platform's key (Connect)."""
    stripe_publishable_key: str = Field(default="", max_length=200)
    """`pk_...` for Stripe.js on the payment page; empty means the platform's."""
    stripe_webhook_secret_encrypted: str = Field(default="")
    """Fernet ciphertext of the `whsec_...` of the business's own webhook endpoint."""
    payment_accounts: str = Field(default="", max_length=500)
    """The ledger account card payments are recorded to, per currency: "GBP=090 *=615"
    ("*" for any other currency)."""
    created_at: datetime = timestamp()

    @property
    def sender(self) -> str:
        """The name reminders, statements and the portal go out under."""
        return self.sender_name or self.name


class User(OrgScoped, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(default=Role.VIEWER, max_length=16)
    created_at: datetime = timestamp()
    last_login_at: datetime | None = optional_timestamp()


class ApiToken(OrgScoped, table=True):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token itself is shown
    once, when it is minted. It works until `expires_at` or until it is revoked."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = timestamp()
    expires_at: datetime = timestamp()
    last_used_at: datetime | None = optional_timestamp()
    """Updated at most once a minute (see duely.web.auth), not on every request."""
    revoked_at: datetime | None = optional_timestamp()
