"""Opt-outs, per channel: the one place they are set and cleared, and the rule every sender asks.

A customer may be opted out of email, of texts, or of both; each has its own time
(`Customer.email_opted_out_at`, `Customer.sms_opted_out_at`):
- the unsubscribe link at the foot of a reminder (or a mail client's one-click
  `List-Unsubscribe`) stops both: the person asked to stop the reminders, whichever way they
  come (the page says "by email or by text");
- a reply STOP to duely's sending number stops texts only, and START resumes texts only: an
  SMS START never undoes an email unsubscribe;
- a person in the app clears one channel at a time (the customer asked them to). Twilio keeps
  refusing texts to a number that replied STOP until it replies START, whatever duely says.

Call tasks are never blocked by an opt-out: they ask a person to ring the customer, which is no
reminder the customer unsubscribed from.

Anything that sends asks `channel_opt_out_reason` right before it does. Every change is
committed first and the customer's running chases are told afterwards (by the caller's
`TellChases`) (signal
`chasing_changed`, so they re-read their plan), best effort: with Temporal out of reach the
change holds all the same, because the outbox asks `channel_opt_out_reason` again when a
reminder is handed to it.

duely's number is shared by every organisation, so a STOP from a phone opts out every customer,
in every organisation, that has a contact with that phone: the person asked the number to
stop, whoever sent the text. These are the only queries in duely that cross organisations,
on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.sms import normalise_phone
from duely.models import Channel, Contact, Customer, utcnow

TellChases = Callable[[AsyncSession, list[Customer]], Awaitable[str]]
"""Tells the running chases of these customers' open invoices to re-read their plan, after the
commit; answers why they could not be told ("" when they were). The web passes its own
(duely.web.chase.tell_chases), which reaches Temporal without letting an outage break a page."""

log = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Matching starts in SQL on the number's last digits, then compares whole normalised numbers.
MATCHED_TAIL_DIGITS = 7
_SEPARATORS = (" ", "-", "(", ")", ".", "/")

FIELDS = {Channel.EMAIL: "email_opted_out_at", Channel.SMS: "sms_opted_out_at"}
"""The channels a customer can opt out of, and where each opt-out is kept."""
WORDS = {Channel.EMAIL: "email", Channel.SMS: "texts"}


# --- the rule ----------------------------------------------------------------------------------


def opted_out_at(customer: Customer, channel: str) -> datetime | None:
    """Since when the customer refuses `channel`; None when they do not (a call task, or any
    channel nobody can opt out of, never is refused)."""
    field = FIELDS.get(channel)
    return getattr(customer, field) if field else None


def channels_opt_out_reason(customer: Customer, channels: Iterable[str]) -> str:
    """Why none of `channels` may reach the customer, e.g. "the customer opted out of email
    and texts"; "" when at least one of them may (or there are none)."""
    wanted = list(dict.fromkeys(Channel(channel) for channel in channels))
    if not wanted or any(opted_out_at(customer, channel) is None for channel in wanted):
        return ""
    return f"the customer opted out of {' and '.join(WORDS[channel] for channel in wanted)}"


def channel_opt_out_reason(customer: Customer, channel: str) -> str:
    """Why nothing may be sent to the customer by `channel` ("the customer opted out of
    email" / "... of texts"); "" when it may. Everything that sends asks this first."""
    return channels_opt_out_reason(customer, [channel])


# --- texts: STOP and START replies -------------------------------------------------------------


def reply_keyword(body: str) -> str:
    """ "stop" or "start" when the whole text (trimmed, any case) is one of the keywords
    Twilio acts on, else ""."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "stop"
    return "start" if word in OPT_IN_KEYWORDS else ""


def _masked(phone: str) -> str:
    """Enough of a number to recognise it in a log, not enough to text it."""
    return f"...{phone[-4:]}" if len(phone) > 4 else "..."


async def customers_with_phone(session: AsyncSession, phone: str) -> list[Customer]:
    """Every customer, in any organisation, with a contact whose number is `phone` once both
    are normalised."""
    wanted = normalise_phone(phone)
    digits = wanted.lstrip("+")
    if not digits:
        return []
    stripped = col(Contact.phone)
    for separator in _SEPARATORS:
        stripped = func.replace(stripped, separator, "")
    tail = digits[-MATCHED_TAIL_DIGITS:]
    candidates = await session.exec(
        select(Contact.customer_id, Contact.phone).where(stripped.like(f"%{tail}"))
    )
    customer_ids = {
        customer_id
        for customer_id, contact_phone in candidates.all()
        if normalise_phone(contact_phone) == wanted
    }
    if not customer_ids:
        return []
    customers = await session.exec(
        select(Customer).where(col(Customer.id).in_(customer_ids)).order_by(col(Customer.id))
    )
    return list(customers.all())


async def opt_out_by_phone(tell: TellChases, session: AsyncSession, phone: str) -> list[int]:
    """The person at `phone` replied STOP: stop texting every customer they are a contact of
    (email goes on). Marks `sms_opted_out_at` (kept when already set), commits, tells those
    customers' chases, and returns their ids, including ones that were already opted out."""
    customers = await customers_with_phone(session, phone)
    newly = await _set(session, customers, [Channel.SMS])
    log.info(
        "texts to %s stopped by reply STOP: customers %s (newly opted out: %s)",
        _masked(normalise_phone(phone)),
        _ids(customers),
        _ids(newly),
    )
    await tell(session, newly)
    return _ids(customers)


async def opt_in_by_phone(tell: TellChases, session: AsyncSession, phone: str) -> list[int]:
    """The person at `phone` replied START: texting their customers may resume. Clears
    `sms_opted_out_at` only (an email unsubscribe stands), commits, tells those customers'
    chases, and returns their ids."""
    customers = await customers_with_phone(session, phone)
    cleared = await _clear(session, customers, Channel.SMS)
    log.info(
        "texts to %s resumed by reply START: customers %s (newly opted in: %s)",
        _masked(normalise_phone(phone)),
        _ids(customers),
        _ids(cleared),
    )
    await tell(session, cleared)
    return _ids(customers)


# --- the unsubscribe link, and a person in the app ---------------------------------------------


async def opt_out_customer(tell: TellChases, session: AsyncSession, customer: Customer) -> bool:
    """The customer followed the unsubscribe link of a reminder (or their mail client's
    one-click unsubscribe): no more reminders to them, by email or by text. Marks both
    opt-outs (an earlier one keeps its time), commits and tells their chases; True when this
    opted them out of anything. Logs ids only: nothing that identifies a person."""
    newly = bool(await _set(session, [customer], [Channel.EMAIL, Channel.SMS]))
    log.info(
        "customer %s of organisation %s unsubscribed by link (already opted out: %s)",
        customer.id,
        customer.organisation_id,
        not newly,
    )
    if newly:
        await tell(session, [customer])
    return newly


async def clear_opt_out(
    tell: TellChases, session: AsyncSession, customer: Customer, channel: str, by: str = ""
) -> str:
    """A person lifts the customer's opt-out of one channel (the customer asked them to):
    commits, and tells the customer's chases. Returns why the chases could not be told ("" when
    they were, or when there was nothing to clear); the opt-out is cleared either way. Raises
    ValueError for a channel nobody can opt out of."""
    if channel not in FIELDS:
        raise ValueError(f"{channel!r} is not a channel a customer can opt out of")
    cleared = await _clear(session, [customer], Channel(channel))
    if not cleared:
        return ""
    log.info(
        "customer %s of organisation %s opted back in to %s by %s",
        customer.id,
        customer.organisation_id,
        WORDS[Channel(channel)],
        by or "someone",
    )
    return await tell(session, [customer])


# --- writing, then telling ---------------------------------------------------------------------


async def _set(
    session: AsyncSession, customers: list[Customer], channels: list[Channel]
) -> list[Customer]:
    """Opt the customers out of `channels` and commit; the customers this changed."""
    now = utcnow()
    changed = []
    for customer in customers:
        fields = [FIELDS[channel] for channel in channels]
        unset = [field for field in fields if getattr(customer, field) is None]
        for field in unset:
            setattr(customer, field, now)
        if unset:
            session.add(customer)
            changed.append(customer)
    if changed:
        await session.commit()
    return changed


async def _clear(
    session: AsyncSession, customers: list[Customer], channel: Channel
) -> list[Customer]:
    """Lift the customers' opt-out of `channel` and commit; the customers this changed."""
    field = FIELDS[channel]
    changed = [customer for customer in customers if getattr(customer, field) is not None]
    for customer in changed:
        setattr(customer, field, None)
        session.add(customer)
    if changed:
        await session.commit()
    return changed


def _ids(customers: Iterable[Customer]) -> list[int]:
    return [customer.id for customer in customers if customer.id is not None]
