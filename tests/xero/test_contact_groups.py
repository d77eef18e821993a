# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""Xero's contact groups feed schedule assignment: each sync reads the groups, an admin puts a
group on a schedule, and its customers' chases follow that schedule, unless a customer was
given one by name. Against the Xero sandbox, with a real worker on the dev server."""

from __future__ import annotations

from sqlmodel import select

from duely.activities.chase import load_plan
from duely.core.db import Database
from duely.models import Customer, CustomerGroup, Schedule, ScheduleStep
from tests.conftest import csrf_from, login
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    chases_settled,
    chasing_settings,
    connected_tenant,
    open_invoices,
    sync_once,
    synced,
    xero_settings,
)


def groups_in_duely(db) -> dict[str, set[str]]:
    """{group name: customers' contact ids} as duely mirrored them."""
    db.expire_all()
    found: dict[str, set[str]] = {}
    rows = db.exec(select(CustomerGroup.name, Customer.external_id).join(Customer))
    for name, contact in rows:
        found.setdefault(name, set()).add(contact.lower())
    return found


async def test_a_full_sync_reads_the_contact_groups_of_the_customers(
    worker, synced, dev_server_env, chasing_settings, db
):
    tenant, connection = synced
    customers = {c.external_id.lower() for c in db.exec(select(Customer))}
    in_xero = {
        group.name: {member.lower() for member in group.contact_ids} & customers
        for group in tenant.contact_groups.values()
        if group.status == "ACTIVE"
    }
    assert any(in_xero.values()), "the seeded groups hold none of the synced customers"
    assert groups_in_duely(db) == {name: members for name, members in in_xero.items() if members}
    # An incremental sync leaves them be: one call per group is dear under Xero's 60 a minute.
    asked = sum("/ContactGroups" in r.url.path for r in worker.requests)
    await sync_once(dev_server_env.client, chasing_settings, db, connection)
    assert sum("/ContactGroups" in r.url.path for r in worker.requests) == asked > 0


async def test_customers_in_a_group_follow_its_schedule_unless_given_one_by_name(
    worker, synced, duely, chasing_settings, db, org_a
):
    await chases_settled(db)
    name, members = next(iter(sorted(groups_in_duely(db).items())))
    gentle = Schedule(organisation_id=org_a.id, name="Gentle")
    db.add(gentle)
    db.commit()
    db.add(ScheduleStep(organisation_id=org_a.id, schedule_id=gentle.id, offset_days=45))
    db.commit()
    await login(duely, org_a.admin)
    page = await duely.get(f"/settings/schedules/{gentle.id}")
    assert f'<option value="{name}">{name}</option>' in page.text
    saved = await duely.post(
        f"/settings/schedules/{gentle.id}/group",
        data={"contact_group": name, "_csrf_token": csrf_from(page.text)},
    )
    assert saved.status_code in (200, 303)
    db.expire_all()
    assert db.get(Schedule, gentle.id).contact_group == name

    invoices = open_invoices(db)
    customers = {c.id: c for c in db.exec(select(Customer))}
    in_group = next(i for i in invoices if customers[i.customer_id].external_id.lower() in members)
    outside = next(
        i for i in invoices if customers[i.customer_id].external_id.lower() not in members
    )
    database = Database(chasing_settings.resolved_database_url)
    try:
        assert [s.offset_days for s in (await load_plan(database, in_group.id)).steps] == [45]
        assert 45 not in [s.offset_days for s in (await load_plan(database, outside.id)).steps]
        # Given a schedule by name, a customer keeps it whatever its groups.
        default = db.exec(select(Schedule).where(Schedule.is_default)).one()
        customer = db.get(Customer, in_group.customer_id)
        customer.schedule_id = default.id
        db.commit()
        assert 45 not in [s.offset_days for s in (await load_plan(database, in_group.id)).steps]
    finally:
        await database.dispose()


async def test_only_an_admin_puts_a_group_on_a_schedule(duely, db, org_a):
    schedule = db.exec(select(Schedule).where(Schedule.organisation_id == org_a.id)).first()
    await login(duely, org_a.collector)
    page = await duely.get(f"/settings/schedules/{schedule.id}")
    refused = await duely.post(
        f"/settings/schedules/{schedule.id}/group",
        data={"contact_group": "Key accounts", "_csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 403
    db.expire_all()
    assert db.get(Schedule, schedule.id).contact_group == ""
