"""Organisations and users: created by the CLI, the demo seed and the tests alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from duely.core.db import make_sync_engine
from duely.core.security import hash_password
from duely.models import (
    ContactKind,
    Organisation,
    Role,
    Schedule,
    ScheduleStep,
    Template,
    User,
    saved_id,
)
from duely.reminders.defaults import DEFAULT_SCHEDULE, DEFAULT_TEMPLATES

DEMO_ORGANISATION = "Demo Trading Ltd"
DEMO_QUICKBOOKS_ORGANISATION = "Demo Trading Co"
"""The second demo organisation, which keeps its books in (the sandbox's) QuickBooks."""
DEMO_ACCOUNTSIQ_ORGANISATION = "Demo Services Ltd"
"""The third, on (the sandbox's) AccountsIQ, in its eu1 location."""
DEMO_ACCOUNTSIQ_BANK = "*=CURRENT"
"""Card payments go to the AccountsIQ demo company's bank account."""
DEMO_SPREADSHEET_ORGANISATION = "Demo Workshop Ltd"
"""The fourth, whose books are kept where duely cannot connect: it imports spreadsheets."""


@dataclass
class CreatedUser:
    user_id: int
    organisation_id: int
    created: bool


def ensure_user(
    session: Session,
    organisation: Organisation,
    email: str,
    password: str,
    role: Role,
    name: str = "",
) -> CreatedUser:
    """Create the user unless that email exists; an existing user is left untouched."""
    email = email.strip().lower()
    existing = session.exec(select(User).where(User.email == email)).first()
    if existing:
        return CreatedUser(saved_id(existing), existing.organisation_id, created=False)
    user = User(
        organisation_id=saved_id(organisation),
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password, email),
    )
    session.add(user)
    session.flush()
    return CreatedUser(saved_id(user), saved_id(organisation), created=True)


def ensure_organisation(session: Session, name: str, **settings: Any) -> Organisation:
    """The organisation of that name; a new one starts with the default chasing set-up."""
    organisation = session.exec(select(Organisation).where(Organisation.name == name)).first()
    if organisation is None:
        organisation = Organisation(name=name, **settings)
        session.add(organisation)
        session.flush()
        install_default_chasing(session, saved_id(organisation))
    return organisation


def install_default_chasing(session: Session, organisation_id: int) -> Schedule:
    """The five best-practice templates and the Standard schedule, as the organisation's own
    rows (it edits them from then on)."""
    templates = {
        plan.name: Template(
            organisation_id=organisation_id,
            name=plan.name,
            tone=plan.tone,
            subject=plan.subject,
            body=plan.body,
        )
        for plan in DEFAULT_TEMPLATES
    }
    session.add_all(templates.values())
    schedule = Schedule(
        organisation_id=organisation_id, name=DEFAULT_SCHEDULE.name, is_default=True
    )
    session.add(schedule)
    session.flush()
    session.add_all(
        ScheduleStep(
            organisation_id=organisation_id,
            schedule_id=saved_id(schedule),
            position=position,
            offset_days=step.offset_days,
            channel=step.channel,
            template_id=templates[step.template].id if step.template else None,
            recipient_kind=(
                ContactKind.ESCALATED
                if ContactKind.ESCALATED in step.recipient_kinds
                else ContactKind.NORMAL
            ),
            repeat_every_days=step.repeat_every_days,
            repeat_max_times=step.repeat_max_times,
        )
        for position, step in enumerate(DEFAULT_SCHEDULE.steps)
    )
    session.flush()
    return schedule


def create_user(
    database_url: str, email: str, password: str, role: Role, organisation_name: str
) -> CreatedUser:
    engine = make_sync_engine(database_url)
    try:
        with Session(engine) as session:
            organisation = ensure_organisation(session, organisation_name)
            result = ensure_user(session, organisation, email, password, role)
            session.commit()
            return result
    finally:
        engine.dispose()


def seed_demo(
    database_url: str,
    email: str,
    password: str,
    quickbooks_email: str = "",
    accountsiq_email: str = "",
    spreadsheet_email: str = "",
) -> int:
    """The demo organisation with an admin, a collector and a viewer, and (with the other
    emails) the QuickBooks, AccountsIQ and spreadsheet demo organisations with their admins;
    safe to run again. Returns the first's id."""
    engine = make_sync_engine(database_url)
    try:
        with Session(engine) as session:
            organisation = ensure_organisation(
                session,
                DEMO_ORGANISATION,
                country="GB",
                timezone="Europe/London",
                base_currency="GBP",
            )
            ensure_user(session, organisation, email, password, Role.ADMIN, "Demo Admin")
            local, _, domain = email.partition("@")
            for role in (Role.COLLECTOR, Role.VIEWER):
                ensure_user(
                    session,
                    organisation,
                    f"{role.value}@{domain}",
                    password,
                    role,
                    f"Demo {role.value.title()}",
                )
            if quickbooks_email:
                second = ensure_organisation(
                    session,
                    DEMO_QUICKBOOKS_ORGANISATION,
                    country="GB",
                    timezone="Europe/London",
                    base_currency="GBP",
                )
                ensure_user(
                    session, second, quickbooks_email, password, Role.ADMIN, "Demo Admin (QB)"
                )
            if accountsiq_email:
                third = ensure_organisation(
                    session,
                    DEMO_ACCOUNTSIQ_ORGANISATION,
                    country="IE",
                    timezone="Europe/Dublin",
                    base_currency="EUR",
                )
                third.payment_accounts = third.payment_accounts or DEMO_ACCOUNTSIQ_BANK
                session.add(third)
                ensure_user(
                    session, third, accountsiq_email, password, Role.ADMIN, "Demo Admin (AIQ)"
                )
            if spreadsheet_email:
                fourth = ensure_organisation(
                    session,
                    DEMO_SPREADSHEET_ORGANISATION,
                    country="GB",
                    timezone="Europe/London",
                    base_currency="GBP",
                )
                ensure_user(
                    session, fourth, spreadsheet_email, password, Role.ADMIN, "Demo Admin (sheets)"
                )
            session.commit()
            return saved_id(organisation)
    finally:
        engine.dispose()
