"""Customers who asked not to be texted: STOP and START replies to duely's sending number.

The number is shared by every organisation, so a STOP from a phone opts out every customer,
in every organisation, that has a contact with that phone: the person asked the number to
stop, whoever sent the text. These are the only queries in duely that cross organisations,
on purpose.

`opt_out_by_phone` is the single place an opt-out happens: whatever else must follow one (such
as telling running chase workflows) belongs there.
"""

from __future__ import annotations

import logging

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.sms import normalise_phone
from duely.models import Contact, Customer, utcnow

log = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Matching starts in SQL on the number's last digits, then compares whole normalised numbers.
MATCHED_TAIL_DIGITS = 7
_SEPARATORS = (" ", "-", "(", ")", ".", "/")


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


async def opt_out_by_phone(session: AsyncSession, phone: str) -> list[int]:
    """The person at `phone` replied STOP: stop texting every customer they are a contact of.
    Marks `email_opted_out_at` (kept when already set), commits, and returns those customers' ids,
    including ones that were already opted out."""
    customers = await customers_with_phone(session, phone)
    now = utcnow()
    newly = [customer for customer in customers if customer.email_opted_out_at is None]
    for customer in newly:
        customer.email_opted_out_at = now
        session.add(customer)
    await session.commit()
    log.info(
        "texts to %s stopped by reply STOP: customers %s (newly opted out: %s)",
        _masked(normalise_phone(phone)),
        [customer.id for customer in customers],
        [customer.id for customer in newly],
    )
    return [customer.id for customer in customers if customer.id is not None]


async def opt_in_by_phone(session: AsyncSession, phone: str) -> list[int]:
    """The person at `phone` replied START: texting their customers may resume. Clears
    `email_opted_out_at`, commits, and returns those customers' ids."""
    customers = await customers_with_phone(session, phone)
    for customer in customers:
        if customer.email_opted_out_at is not None:
            customer.email_opted_out_at = None
            session.add(customer)
    await session.commit()
    log.info(
        "texts to %s resumed by reply START: customers %s",
        _masked(normalise_phone(phone)),
        [customer.id for customer in customers],
    )
    return [customer.id for customer in customers if customer.id is not None]


async def opt_out_customer(session: AsyncSession, customer: Customer) -> bool:
    """The customer followed the unsubscribe link of a reminder (or their mail client's
    one-click unsubscribe): no more reminders to them, by any channel. Marks `email_opted_out_at`
    (an earlier opt-out keeps its time) and commits; True when this opted them out. Logs ids
    only: nothing that identifies a person."""
    newly = customer.email_opted_out_at is None
    if newly:
        customer.email_opted_out_at = utcnow()
        session.add(customer)
        await session.commit()
    log.info(
        "customer %s of organisation %s unsubscribed by link (already opted out: %s)",
        customer.id,
        customer.organisation_id,
        not newly,
    )
    return newly
