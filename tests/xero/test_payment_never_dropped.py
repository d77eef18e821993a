# ruff: noqa: F811 - the payment tests' fixtures are imported by name below
"""A card payment waiting to be placed in the ledger is never dropped (issue 11, finding 1):
a chase that is stopped (or whose invoice is voided or paid meanwhile) keeps the payment until
it is placed or found unplaceable, and shows that it is recording it.

Real paths: the Xero sandbox over HTTP, a signed Stripe webhook into duely's web app, the
chase on a real worker on the dev server.
"""

from __future__ import annotations

import uuid

from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseState
from duely.core.temporal import names
from duely.models import Event, Payment
from tests.conftest import api_token
from tests.waiting import eventually
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    connected_tenant,
    synced,
    xero_settings,
)
from tests.xero.test_payment_placement import (  # noqa: F401 - fixtures, used by name
    PAYS_IN,
    alert_of,
    chasing_settings,
    takes_cards_without_an_account,
)
from tests.xero.test_payments import (
    deliver_to_chases,
    ledger_payments,
    paid_in_full,
    same_customer_invoices,
)


async def test_stopping_a_chase_with_a_payment_waiting_keeps_the_payment(
    takes_cards_without_an_account, worker, synced, duely, dev_server_env, db, org_a
):
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)

    async def waiting():  # the ledger would not take it: no account for card payments yet
        return await alert_of(db, "ledger_configuration")

    await eventually(waiting, "the payment never waited for an account", seconds=20)
    client = dev_server_env.client
    await chase_control.act(client, invoice, Action.STOP, by="ann@alpha.test")

    async def stop_heard():
        db.expire_all()
        events = db.exec(select(Event).where(Event.invoice_id == invoice.id)).all()
        return any(event.kind == "stopped" for event in events)

    await eventually(stop_heard, "the chase never heard the stop", seconds=20)
    handle = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
    assert (await handle.describe()).status.name == "RUNNING"
    view = await chase_control.view(client, invoice)
    assert view.state == ChaseState.RECORDING
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "pending"

    # A person sets the account for card payments: the chase tries again at once (not within
    # the hour), places the payment, and only then ends as stopped.
    headers = await api_token(duely, org_a.admin)
    change = {"country": "GB", "stripe": {"payment_accounts": f"*={PAYS_IN}"}}
    response = await duely.patch("/api/v1/organisation", json=change, headers=headers)
    assert response.status_code == 200, response.text

    async def placed():
        db.expire_all()
        row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
        return row.status == "recorded"

    await eventually(placed, "the waiting payment was never placed", seconds=30)
    assert len(ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}")) == 1

    async def ended():
        return (await handle.describe()).status.name == "COMPLETED"

    await eventually(ended, "the chase never ended", seconds=20)
    assert await handle.result() == ChaseState.STOPPED
