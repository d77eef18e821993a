"""Record the histories that tests/replay/test_replay.py replays.

    .venv/bin/python -m tests.replay.record

Runs real chases on the time-skipping server (SQLite, aiosmtpd) and writes each workflow's
history as JSON beside this file. Re-record only on purpose: a workflow change that breaks
the replay of the old histories breaks every chase running in production when it deploys.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import date
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlmodel import Session

from duely import chase_control
from duely.chase_control import Action
from duely.db import Database, make_sync_engine
from duely.integrations.ledgers.connections import Ledgers
from duely.migrate import upgrade
from duely.models import Organisation
from duely.settings import Settings
from duely.worker import build_worker
from duely.workflows import names
from tests.chasing.conftest import DUE, at_london, customer_with_contact
from tests.conftest import MailCatcher, make_org, start_time_skipping
from tests.factories import add_invoice
from tests.serving import free_port

HERE = Path(__file__).parent


async def record() -> None:
    home = Path(tempfile.mkdtemp())
    url = f"sqlite:///{home / 'record.db'}"
    upgrade(url)
    port = free_port()
    smtp = Controller(MailCatcher(), hostname="127.0.0.1", port=port)
    smtp.start()
    settings = Settings(
        home=home,
        database_url=url,
        secret_key="replay-recording-secret-key",
        smtp_url=f"smtp://127.0.0.1:{port}",
        temporal_task_queue=f"record-{uuid.uuid4().hex[:8]}",
    )
    with Session(make_sync_engine(url), expire_on_commit=False) as db:
        org = make_org(db, "replay")
        organisation = db.get(Organisation, org.id)
        organisation.subdivision = "ENG"
        db.commit()
        customer = customer_with_contact(db, org.id, "replay")
        walked = add_invoice(db, customer, "INV-R1", 0, amount=90_000, due_date=DUE)
        paused = add_invoice(db, customer, "INV-R2", 0, amount=40_000, due_date=DUE)
    env = await start_time_skipping()
    database = Database(url)
    ledgers = Ledgers(settings, database)
    try:
        async with build_worker(env.client, settings, database, ledgers):
            for invoice in (walked, paused):
                await chase_control.tell_chase(env.client, settings.temporal_task_queue, invoice)
            await env.sleep(at_london(date(2027, 3, 1)) - await env.get_current_time())
            await chase_control.act(
                env.client, paused, Action.PAUSE, by="recorder", until="2027-03-20"
            )
            await env.sleep(at_london(date(2027, 3, 25)) - await env.get_current_time())
            await env.client.get_workflow_handle(names.chase_workflow_id(org.id, paused.id)).signal(
                "payment_received", {"amount": 40_000, "currency": "GBP"}
            )
            await env.sleep(at_london(date(2027, 4, 22)) - await env.get_current_time())
            await write(env, names.chase_workflow_id(org.id, walked.id), "chase_walked.json")
            await write(env, names.chase_workflow_id(org.id, paused.id), "chase_paused_paid.json")
            await write(env, names.outbox_workflow_id(org.id, customer.id), "outbox.json")
    finally:
        await env.shutdown()
        await ledgers.aclose()
        await database.dispose()
        smtp.stop()


async def write(env, workflow_id: str, name: str) -> None:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    (HERE / name).write_text(history.to_json())
    print(f"wrote {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(record())
