"""duely's mirror of a ledger: batched upserts of customers, contacts and invoices, and
snapshots of customers' credit and contact groups.

A page from the ledger becomes one transaction. A record is written only when something a
person or a chase would notice changed, and each changed invoice is stamped with the sync run
that changed it, so the fan-out after the sync acts on exactly those invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as select_columns
from sqlmodel import SQLModel, col, delete, insert, select, update
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
    Payment,
    PaymentStatus,
    SyncRun,
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


Person = tuple[str, str, str, str, str]
"""A contact person as compared between ledger and mirror: names, email, phone, kind."""


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The model's defaults for the columns a ledger does not fill (chase state, flags,
    created_at...), for plain bulk inserts. Computed once per page: asking pydantic per row
    (it inspects each default factory's signature) cost more than the insert itself."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if name != "id" and not field.is_required()
    }


async def _customer_ids(
    session: AsyncSession, scope: Scope, external_ids: set[str]
) -> dict[str, int]:
    """The mirrored customers among `external_ids`: their ids by external id (plain rows, no
    model objects: a page names up to a thousand)."""
    if not external_ids:
        return {}
    rows = await session.exec(
        select(Customer.external_id, Customer.id).where(
            Customer.organisation_id == scope.organisation_id,
            Customer.connection_id == scope.connection_id,
            col(Customer.external_id).in_(external_ids),
        )
    )
    return {external_id: saved_id_of(customer_id) for external_id, customer_id in rows}


async def _insert_customers(
    session: AsyncSession, scope: Scope, new: list[tuple[str, str, datetime | None]]
) -> dict[str, int]:
    """New customers, (external id, name, ledger stamp) each, in one statement; their ids."""
    if not new:
        return {}
    defaults = _defaults(Customer)
    rows = await session.exec(
        insert(Customer).returning(col(Customer.external_id), col(Customer.id)),
        params=[
            defaults
            | {
                "organisation_id": scope.organisation_id,
                "connection_id": scope.connection_id,
                "external_id": external_id,
                "name": name,
                "source_updated_at": updated_at,
            }
            for external_id, name, updated_at in new
        ],
    )
    return {external_id: saved_id_of(customer_id) for external_id, customer_id in rows}


def saved_id_of(customer_id: int | None) -> int:
    if customer_id is None:  # a row read back from the database always has its id
        raise ValueError("a saved customer without an id")
    return customer_id


def _people(contact: LedgerContact) -> list[Person]:
    return sorted(
        (
            person.first_name,
            person.last_name,
            person.email,
            person.phone,
            ContactKind.ESCALATED if person.escalation else ContactKind.NORMAL,
        )
        for person in contact.people
    )


async def upsert_contacts(
    session: AsyncSession, scope: Scope, contacts: list[LedgerContact]
) -> int:
    """Mirror a page of ledger contacts as customers; returns how many were new or changed.
    A contact listed twice in a page counts once, as its last listing says."""
    contacts = list({contact.external_id: contact for contact in contacts}.values())
    known = {
        external_id: (saved_id_of(customer_id), name)
        for customer_id, external_id, name in await session.exec(
            select(Customer.id, Customer.external_id, Customer.name).where(
                Customer.organisation_id == scope.organisation_id,
                Customer.connection_id == scope.connection_id,
                col(Customer.external_id).in_([c.external_id for c in contacts]),
            )
        )
    }
    mirrored_people: dict[int, list[Person]] = {}
    if known:
        connection = await session.connection()
        rows = await connection.execute(
            select_columns(
                col(Contact.customer_id),
                col(Contact.first_name),
                col(Contact.last_name),
                col(Contact.email),
                col(Contact.phone),
                col(Contact.kind),
            ).where(
                col(Contact.customer_id).in_([customer_id for customer_id, _ in known.values()])
            )
        )
        for customer_id, first_name, last_name, email, phone, kind in rows:
            person = (first_name, last_name, email, phone, kind)
            mirrored_people.setdefault(customer_id, []).append(person)

    new_ids = await _insert_customers(
        session,
        scope,
        [(c.external_id, c.name, c.updated_at) for c in contacts if c.external_id not in known],
    )
    changed: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    for contact in contacts:
        wanted = _people(contact)
        if contact.external_id in new_ids:
            customer_id = new_ids[contact.external_id]
        else:
            customer_id, name = known[contact.external_id]
            if name == contact.name and sorted(mirrored_people.get(customer_id, [])) == wanted:
                continue
            changed.append(
                {"id": customer_id, "name": contact.name, "source_updated_at": contact.updated_at}
            )
        people += [
            {
                "organisation_id": scope.organisation_id,
                "customer_id": customer_id,
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "phone": phone,
                "kind": kind,
            }
            for first_name, last_name, email, phone, kind in wanted
        ]
    if changed:
        await session.exec(update(Customer), params=changed)
        replaced = [values["id"] for values in changed]
        await session.exec(delete(Contact).where(col(Contact.customer_id).in_(replaced)))
    if people:
        await session.exec(insert(Contact), params=people)
    await session.commit()
    return len(new_ids) + len(changed)


async def upsert_invoices(
    session: AsyncSession, scope: Scope, invoices: list[LedgerInvoice], run_id: int
) -> int:
    """Mirror a page of ledger invoices; returns how many were new or changed."""
    gone = [i for i in invoices if i.deleted]
    invoices = [i for i in invoices if not i.deleted]
    voided = await _void_deleted(session, scope, gone, run_id) if gone else 0
    customer_ids = await _customer_ids(session, scope, {i.contact_external_id for i in invoices})
    # A contact that has not come through the contacts pass (yet) is created from what the
    # invoice carries, so no invoice waits for its customer (its details come by id later).
    unmirrored: dict[str, str] = {}
    for invoice in invoices:
        if invoice.contact_external_id not in customer_ids:
            unmirrored.setdefault(invoice.contact_external_id, invoice.contact_name)
    customer_ids |= await _insert_customers(
        session, scope, [(external_id, name, None) for external_id, name in unmirrored.items()]
    )

    # What the mirror holds, as plain values (model objects cost more than the comparison).
    columns = ("id", "external_id", "customer_id", *INVOICE_FIELDS)
    connection = await session.connection()
    rows = await connection.execute(
        select_columns(*(getattr(Invoice, name) for name in columns)).where(
            col(Invoice.organisation_id) == scope.organisation_id,
            col(Invoice.connection_id) == scope.connection_id,
            col(Invoice.external_id).in_([i.external_id for i in invoices]),
        )
    )
    existing = {row[1]: dict(zip(columns, row, strict=True)) for row in rows}
    paid_since_read = await _paid_during_run(session, run_id, [r["id"] for r in existing.values()])
    defaults = _defaults(Invoice)
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    for incoming in invoices:
        row = existing.get(incoming.external_id)
        customer_id = customer_ids[incoming.contact_external_id]
        if row is not None and row["id"] in paid_since_read:
            continue  # read before a payment duely placed: the next pass reads it after
        if (
            row is not None
            and row["customer_id"] == customer_id
            and all(row[name] == getattr(incoming, name) for name in INVOICE_FIELDS)
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
                defaults
                | values
                | {
                    "organisation_id": scope.organisation_id,
                    "connection_id": scope.connection_id,
                    "external_id": incoming.external_id,
                }
            )
        else:
            changed_rows.append(values | {"id": row["id"]})
    # Plain rows in bulk: building a validated model object per invoice costs more than the
    # database write itself on an initial sync of thousands.
    if new_rows:
        await session.exec(insert(Invoice), params=new_rows)
    if changed_rows:
        await session.exec(update(Invoice), params=changed_rows)
    await session.commit()
    return len(new_rows) + len(changed_rows) + voided


async def _paid_during_run(session: AsyncSession, run_id: int | None, ids: list[int]) -> set[int]:
    """The invoices a payment was placed on since the sync run began: a page of the run may
    have been read before it, and would say they are owed again. The ledger stamped them when
    the payment went in, so the next pass reads them as they are now."""
    if run_id is None or not ids:
        return set()
    started = (await session.exec(select(SyncRun.started_at).where(SyncRun.id == run_id))).first()
    if started is None:
        return set()
    placed = await session.exec(
        select(Payment.invoice_id).where(
            col(Payment.invoice_id).in_(ids),
            Payment.status == PaymentStatus.RECORDED,
            col(Payment.updated_at) >= started,
        )
    )
    return {invoice_id for invoice_id in placed if invoice_id is not None}


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


async def replace_credits(session: AsyncSession, scope: Scope, credits: list[LedgerCredit]) -> int:
    """The connection's customer credit becomes exactly what the ledger holds now (credit
    allocated or refunded since is gone). Credit of a contact duely has no customer for (one
    never invoiced) is left out: nobody is chased for it. Returns the rows kept."""
    customers = await _customer_ids(
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
            customer_id=customers[credit.contact_external_id],
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
    customers = await _customer_ids(session, scope, members)
    await session.exec(
        delete(CustomerGroup).where(
            col(CustomerGroup.organisation_id) == scope.organisation_id,
            col(CustomerGroup.connection_id) == scope.connection_id,
        )
    )
    kept = {
        (customers[member], group.name)
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
