"""Messages duely writes to a customer outside a reminder (a thank-you, a statement): whom to,
and stored once under their unique key, however many attempts race to write them."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import Contact, ContactKind, Customer, Message, MessageStatus


async def message_by_key(session: AsyncSession, key: str) -> Message | None:
    return (await session.exec(select(Message).where(Message.unique_key == key))).first()


async def contacts_of(session: AsyncSession, customer: Customer) -> list[Contact]:
    """The customer's own contacts (not the ledger's extra addresses), first added first."""
    query = (
        select(Contact)
        .where(Contact.customer_id == customer.id, Contact.kind == ContactKind.NORMAL)
        .order_by(Contact.id)
    )
    return list(await session.exec(query))


def email_addresses(contacts: list[Contact]) -> str:
    return ", ".join(contact.email for contact in contacts if contact.email)


async def keep_email_once(session: AsyncSession, message: Message, customer: Customer) -> Message:
    """Store a new email to `customer` (failed at once when none of their contacts has an
    address, so a person sees why), or, when another attempt stored one under the same unique
    key first, return that one."""
    if not message.recipients:
        message.status = MessageStatus.FAILED
        message.error = f"{customer.name} has no contact with an email address"
    session.add(message)
    try:
        await session.commit()
    except IntegrityError:  # a parallel attempt wrote it first
        await session.rollback()
        existing = await message_by_key(session, message.unique_key)
        if existing is None:
            raise
        return existing
    await session.refresh(message)
    return message
