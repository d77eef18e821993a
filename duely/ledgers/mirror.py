"""duely's mirror of a ledger: batched upserts of customers, contacts and invoices, and
snapshots of customers' credit and contact groups.

A page from the ledger becomes one transaction. A record is written only when something a
person or a chase would notice changed, and each changed invoice is stamped with the sync run
that changed it, so the fan-out after the sync acts on exactly those invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.integrations.ledgers.base import (
    LedgerContact,
    LedgerContactGroup,
    LedgerCredit,
    LedgerInvoice,
)
from duely.models import (
    Contact,
    ContactKind,
    Credit,
    Customer,
    CustomerGroup,
    Invoice,
    InvoiceStatus,
    saved_id,
)

INVOICE_FIELDS = (
    "number",
    "reference",
    "issue_date",
    "due_date",
    "currency",
    "total",
    "amount_due",
    "status",
    "expected_payment_date",
)


@dataclass(frozen=True)
class Scope:
    organisation_id: int
    connection_id: int


async def _customers_by_external_id(
    session: AsyncSession, scope: Scope, external_ids: set[str]
) -> dict[str, Customer]:
    rows = await session.exec(
        select(Customer).where(
            Customer.organisation_id == scope.organisation_id,
            Customer.connection_id == scope.connection_id,
            col(Customer.external_id).in_(external_ids),
        )
    )
    return {customer.external_id: customer for customer in rows}


def _contact_rows(scope: Scope, customer_id: int, contact: LedgerContact) -> list[Contact]:
    return [
        Contact(
            organisation_id=scope.organisation_id,
            customer_id=customer_id,
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email,
            phone=person.phone,
            kind=ContactKind.ESCALATED if person.escalation else ContactKind.NORMAL,
        )
        for person in contact.people
    ]


def _people(rows: list[Contact]) -> list[tuple[str, str, str, str, str]]:
    return sorted((r.first_name, r.last_name, r.email, r.phone, r.kind) for r in rows)


async def upsert_contacts(
    session: AsyncSession, scope: Scope, contacts: list[LedgerContact]
) -> int:
    """Mirror a page of ledger contacts as customers; returns how many were new or changed."""
    customers = await _customers_by_external_id(session, scope, {c.external_id for c in contacts})
    existing_people: dict[int, list[Contact]] = {}
    if customers:
        ids = [customer.id for customer in customers.values()]
        for row in await session.exec(select(Contact).where(col(Contact.customer_id).in_(ids))):
            existing_people.setdefault(row.customer_id, []).append(row)
    new = {
        c.external_id: Customer(
            organisation_id=scope.organisation_id,
            connection_id=scope.connection_id,
            external_id=c.external_id,
            name=c.name,
        )
        for c in contacts
        if c.external_id not in customers
    }
    session.add_all(new.values())
    await session.flush()
    customers.update(new)

    replaced: list[int] = []
    people: list[Contact] = []
    for contact in contacts:
        customer = customers[contact.external_id]
        customer_id = saved_id(customer)
        wanted = _contact_rows(scope, customer_id, contact)
        if (
            contact.external_id not in new
            and customer.name == contact.name
            and _people(existing_people.get(customer_id, [])) == _people(wanted)
        ):
            continue
        customer.name = contact.name
        customer.source_updated_at = contact.updated_at
        session.add(customer)
        replaced.append(customer_id)
        people += wanted
    if replaced:
        await session.exec(delete(Contact).where(col(Contact.customer_id).in_(replaced)))
    session.add_all(people)
    await session.commit()
    return len(replaced)


async def upsert_invoices(
    session: AsyncSession, scope: Scope, invoices: list[LedgerInvoice], run_id: int
) -> int:
    """Mirror a page of ledger invoices; returns how many were new or changed."""
    gone = [i for i in invoices if i.deleted]
    invoices = [i for i in invoices if not i.deleted]
    voided = await _void_deleted(session, scope, gone, run_id) if gone else 0
    customers = await _customers_by_external_id(
        session, scope, {i.contact_external_id for i in invoices}
    )
    for invoice in invoices:
        if invoice.contact_external_id not in customers:
            # The contact has not come through the contacts pass (yet): create it from what
            # the invoice carries, so no invoice waits for its customer.
            customer = Customer(
                organisation_id=scope.organisation_id,
                connection_id=scope.connection_id,
                external_id=invoice.contact_external_id,
                name=invoice.contact_name,
            )
            session.add(customer)
            customers[invoice.contact_external_id] = customer
    await session.flush()

    existing = {
        row.external_id: row
        for row in await session.exec(
            select(Invoice).where(
                Invoice.organisation_id == scope.organisation_id,
                Invoice.connection_id == scope.connection_id,
                col(Invoice.external_id).in_([i.external_id for i in invoices]),
            )
        )
    }
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    for incoming in invoices:
        row = existing.get(incoming.external_id)
        customer_id = customers[incoming.contact_external_id].id
        if (
            row is not None
            and row.customer_id == customer_id
            and all(getattr(row, name) == getattr(incoming, name) for name in INVOICE_FIELDS)
        ):
            continue
        values = {name: getattr(incoming, name) for name in INVOICE_FIELDS}
        values |= {
            "customer_id": customer_id,
            "source_updated_at": incoming.updated_at,
            "synced_run_id": run_id,
        }
        if row is None:
            new_rows.append(
                _new_invoice_defaults()
                | values
                | {
                    "organisation_id": scope.organisation_id,
                    "connection_id": scope.connection_id,
                    "external_id": incoming.external_id,
                }
            )
        else:
            changed_rows.append(values | {"id": row.id})
    # Plain rows in bulk: building a validated model object per invoice costs more than the
    # database write itself on an initial sync of thousands.
    if new_rows:
        await session.exec(insert(Invoice), params=new_rows)
    if changed_rows:
        await session.exec(update(Invoice), params=changed_rows)
    await session.commit()
    return len(new_rows) + len(changed_rows) + voided


async def _void_deleted(
    session: AsyncSession, scope: Scope, gone: list[LedgerInvoice], run_id: int
) -> int:
    """Invoices deleted in the ledger owe nothing any more: voided, stamped with the run so
    that their chases end. One duely never mirrored is simply not there."""
    rows = await session.exec(
        select(Invoice).where(
            Invoice.organisation_id == scope.organisation_id,
            Invoice.connection_id == scope.connection_id,
            col(Invoice.external_id).in_([i.external_id for i in gone]),
            Invoice.status != InvoiceStatus.VOIDED,
        )
    )
    stamps = {i.external_id: i.updated_at for i in gone}
    voided = 0
    for row in rows:
        row.status, row.amount_due, row.synced_run_id = InvoiceStatus.VOIDED, 0, run_id
        row.source_updated_at = stamps[row.external_id]
        session.add(row)
        voided += 1
    await session.flush()
    return voided


def _new_invoice_defaults() -> dict[str, Any]:
    """The model's defaults for the columns a ledger does not fill (chase state, flags...)."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in Invoice.model_fields.items()
        if name != "id" and not field.is_required()
    }


async def replace_credits(session: AsyncSession, scope: Scope, credits: list[LedgerCredit]) -> int:
    """The connection's customer credit becomes exactly what the ledger holds now (credit
    allocated or refunded since is gone). Credit of a contact duely has no customer for (one
    never invoiced) is left out: nobody is chased for it. Returns the rows kept."""
    customers = await _customers_by_external_id(
        session, scope, {credit.contact_external_id for credit in credits}
    )
    await session.exec(
        delete(Credit).where(
            col(Credit.organisation_id) == scope.organisation_id,
            col(Credit.connection_id) == scope.connection_id,
        )
    )
    kept = [
        Credit(
            organisation_id=scope.organisation_id,
            connection_id=scope.connection_id,
            customer_id=saved_id(customers[credit.contact_external_id]),
            external_id=credit.external_id,
            kind=credit.kind,
            number=credit.number,
            issue_date=credit.issue_date,
            currency=credit.currency,
            remaining=credit.remaining,
        )
        for credit in credits
        if credit.contact_external_id in customers
    ]
    session.add_all(kept)
    await session.commit()
    return len(kept)


async def replace_contact_groups(
    session: AsyncSession, scope: Scope, groups: list[LedgerContactGroup]
) -> int:
    """The connection's customers' groups become exactly the ledger's now. Members duely has
    no customer for (suppliers, contacts never invoiced) are left out. Returns the rows kept."""
    members = {member for group in groups for member in group.contact_external_ids}
    customers = await _customers_by_external_id(session, scope, members)
    await session.exec(
        delete(CustomerGroup).where(
            col(CustomerGroup.organisation_id) == scope.organisation_id,
            col(CustomerGroup.connection_id) == scope.connection_id,
        )
    )
    kept = {
        (saved_id(customers[member]), group.name)
        for group in groups
        for member in group.contact_external_ids
        if member in customers and group.name
    }
    session.add_all(
        CustomerGroup(
            organisation_id=scope.organisation_id,
            connection_id=scope.connection_id,
            customer_id=customer_id,
            name=name,
        )
        for customer_id, name in sorted(kept)
    )
    await session.commit()
    return len(kept)
