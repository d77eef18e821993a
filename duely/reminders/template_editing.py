"""An organisation's reminder templates: listed with where they are used, checked as a person
types them (duely.reminders.rendering says what is wrong), saved and deleted; and the real
customers and invoices behind the template preview."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from duely.models import (
    Contact,
    ContactKind,
    Customer,
    Invoice,
    InvoiceStatus,
    Organisation,
    Schedule,
    ScheduleStep,
    Template,
    saved_id,
)
from duely.outbox.send_times import zone_named
from duely.receivables.credit import credit_by_currency
from duely.reminders.naming import Refused, clean_name, name_problem
from duely.reminders.rendering import (
    ReminderContext,
    TemplateProblem,
    check_template,
    context_for,
)
from duely.reminders.steps import TONES


async def org_templates(session: AsyncSession, org_id: int) -> list[Template]:
    statement = (
        select(Template)
        .where(Template.organisation_id == org_id)
        .order_by(Template.name, Template.id)
    )
    return list((await session.exec(statement)).all())


async def template_usage(session: AsyncSession, org_id: int) -> dict[int, list[str]]:
    """Template id -> names of the schedules whose steps use it."""
    statement = (
        select(ScheduleStep.template_id, Schedule.name)
        .join(Schedule, col(Schedule.id) == col(ScheduleStep.schedule_id))
        .where(ScheduleStep.organisation_id == org_id, col(ScheduleStep.template_id).is_not(None))
        .distinct()
        .order_by(Schedule.name)
    )
    usage: dict[int, list[str]] = {}
    for template_id, schedule_name in await session.exec(statement):
        usage.setdefault(template_id, []).append(schedule_name)
    return usage


@dataclass
class TemplateInput:
    """The template editor's fields as submitted (textarea line ends made plain `\\n`)."""

    name: str = ""
    tone: str = TONES[0]
    subject: str = ""
    body: str = ""

    @classmethod
    def of(cls, template: Template) -> TemplateInput:
        return cls(template.name, template.tone, template.subject, template.body)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TemplateInput:
        def text(name: str) -> str:
            return str(form.get(name, "")).replace("\r\n", "\n").replace("\r", "\n")

        return cls(clean_name(text("name")), text("tone").strip(), text("subject"), text("body"))


@dataclass
class TemplateErrors:
    fields: dict[str, str] = field(default_factory=dict)
    problems: list[TemplateProblem] = field(default_factory=list)
    """What `check_template` found; each belongs to the subject or the body."""

    def __bool__(self) -> bool:
        return bool(self.fields or self.problems)

    def of_part(self, part: str) -> list[TemplateProblem]:
        return [problem for problem in self.problems if problem.part == part]


async def check_template_input(
    session: AsyncSession, org_id: int, data: TemplateInput, template_id: int | None
) -> TemplateErrors:
    others = [t.name for t in await org_templates(session, org_id) if t.id != template_id]
    errors = TemplateErrors()
    problem = name_problem(data.name, others, "template")
    if problem:
        errors.fields["name"] = problem
    if data.tone not in TONES:
        errors.fields["tone"] = "Choose friendly, firm or final."
    if len(data.subject) > 500:
        errors.fields["subject"] = "Keep the subject under 500 characters."
    # It waits for a renderer process: off the event loop.
    errors.problems = await asyncio.to_thread(check_template, data.subject, data.body)
    return errors


async def save_template(
    session: AsyncSession, org_id: int, data: TemplateInput, template: Template | None
) -> Template:
    """Write a checked template (callers run `check_template_input` first)."""
    template = template or Template(organisation_id=org_id, name=data.name)
    template.name, template.tone = data.name, data.tone
    template.subject, template.body = data.subject, data.body
    session.add(template)
    await session.commit()
    return template


async def delete_template(session: AsyncSession, template: Template) -> None:
    used_by = (await template_usage(session, template.organisation_id)).get(template.id)
    if used_by:
        raise Refused(
            f"“{template.name}” is used by the schedule{'s' if len(used_by) > 1 else ''} "
            f"{', '.join(f'“{name}”' for name in used_by)}: choose another template for "
            "those steps first."
        )
    try:
        await session.delete(template)
        await session.commit()
    except IntegrityError as error:  # a step started using it in the meantime
        await session.rollback()
        raise Refused(f"A schedule uses “{template.name}” now: it was not deleted.") from error


# --- real data for the template preview ----------------------------------------------------------


def _open_invoices(org_id: int) -> SelectOfScalar[Invoice]:
    return select(Invoice).where(
        Invoice.organisation_id == org_id,
        Invoice.status == InvoiceStatus.OPEN,
        Invoice.amount_due > 0,
    )


async def customers_with_open_invoices(
    session: AsyncSession, org_id: int, limit: int = 300
) -> list[tuple[int, str]]:
    owing = _open_invoices(org_id).with_only_columns(col(Invoice.customer_id))
    statement = (
        select(Customer.id, Customer.name)
        .where(Customer.organisation_id == org_id, col(Customer.id).in_(owing))
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    return [(row_id, name) for row_id, name in await session.exec(statement)]


async def real_context(
    session: AsyncSession, organisation: Organisation, customer: Customer, payment_link: str
) -> ReminderContext | None:
    """What a reminder to `customer` would cover today, or None when nothing is open."""
    invoices = (
        await session.exec(
            _open_invoices(organisation.id)
            .where(Invoice.customer_id == customer.id)
            .order_by(Invoice.due_date, Invoice.number)
        )
    ).all()
    if not invoices:
        return None
    contact = (
        await session.exec(
            select(Contact)
            .where(
                Contact.organisation_id == organisation.id,
                Contact.customer_id == customer.id,
                Contact.kind == ContactKind.NORMAL,
            )
            .order_by(Contact.id)
            .limit(1)
        )
    ).first()
    today = _customer_today(organisation, customer)
    credit = await credit_by_currency(session, saved_id(organisation), saved_id(customer))
    return context_for(organisation, customer, contact, invoices, payment_link, today, credit)


def _customer_today(organisation: Organisation, customer: Customer) -> date:
    """Days overdue count to today where the customer is (their zone, else the organisation's)."""
    try:
        zone = zone_named(customer.timezone or organisation.timezone)
    except ValueError:
        zone = zone_named(organisation.timezone)
    return datetime.now(zone).date()
