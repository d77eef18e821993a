"""Which task queues a worker process polls (DUELY_WORKER_QUEUES) and their names."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlmodel import func, select
from temporalio import activity, workflow
from temporalio.service import RPCError
from temporalio.worker import Worker

from duely.accounts.organisations import seed_demo
from duely.core.temporal.queues import DELIVERY, SYNC, queue_for
from duely.demo import import_demo_spreadsheets
from duely.models import Invoice
from duely.settings import Settings
from duely.worker import Workers, polled_queues
from tests.live import recording_worker
from tests.waiting import eventually


def test_a_worker_polls_every_queue_unless_told_otherwise():
    assert polled_queues(Settings()) == ["chase", "sync", "ledger", "delivery"]
    assert polled_queues(Settings(worker_queues=" ledger, delivery ")) == ["ledger", "delivery"]


@pytest.mark.parametrize("named", ["", "chase,mail", "sync;ledger"])
def test_a_queue_list_with_an_unknown_name_is_refused_saying_what_may_be_named(named):
    with pytest.raises(ValueError, match="name some of chase, sync, ledger, delivery"):
        polled_queues(Settings(worker_queues=named))


def test_each_queue_is_named_after_the_base_queue():
    assert [queue_for("duely", k) for k in ("chase", "sync", "ledger", "delivery")] == [
        "duely",
        "duely-sync",
        "duely-ledger",
        "duely-delivery",
    ]
    with pytest.raises(ValueError, match="no task queue kind 'mail'"):
        queue_for("duely", "mail")


@pytest.mark.devserver
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about queues, not SQL
async def test_an_import_and_the_sync_it_asks_for_need_nothing_from_the_chase_queue(
    live_settings, dev_server_env, db
):
    """A person's import and "Sync now" must not queue behind a morning's reminders or a big
    first sync's chase starts: on the chase queue, `duely up`'s spreadsheet demo waited 37 s for
    task slots behind the other demos' 900 chase starts (7 December). So the import and sync
    workflows, and all their activities, run on the sync queue: a worker that polls nothing
    else does the demo's two imports and mirrors their 150 invoices."""
    settings = live_settings.model_copy(update={"worker_queues": SYNC})
    seed_demo(settings.resolved_database_url, "demo@queues.test", "queues-password",
              spreadsheet_email="sheets@queues.test")  # fmt: skip
    async with recording_worker(dev_server_env.client, settings):
        assert await import_demo_spreadsheets(settings)

        def mirrored() -> int:
            db.expire_all()
            return db.exec(select(func.count()).select_from(Invoice)).one()

        await eventually(lambda: mirrored() == 150, lambda: f"{mirrored()} invoices mirrored")

        # The chases the sync started wait on the chase queue, for the workers that run chases.
        def chased() -> Invoice | None:
            db.expire_all()
            return db.exec(select(Invoice).where(Invoice.workflow_id != "")).first()

        invoice = await eventually(chased, "the sync started no chase")
        handle = dev_server_env.client.get_workflow_handle(invoice.workflow_id)
        assert (await handle.describe()).task_queue == settings.temporal_task_queue


def test_any_queue_of_the_family_finds_the_others():
    """A sync runs on the sync queue (one started before syncs moved, on the chase queue):
    from either, its pages go to the sync queue and the chases it starts to the chase queue."""
    for own in ("duely", "duely-sync"):
        assert (queue_for(own, "sync"), queue_for(own, "chase")) == ("duely-sync", "duely")
    assert queue_for("duely-ledger", "delivery") == "duely-delivery"


@pytest.mark.parametrize("base", ["acme-sync", "acme-ledger", "acme-delivery"])
def test_a_base_queue_named_like_a_companion_is_refused(base):
    with pytest.raises(ValueError, match="name the base queue"):
        Settings(temporal_task_queue=base)


STOPPING: list[str] = []
"""The queues whose activity heard its worker stop."""
ANSWERS: list[str] = []
"""What each of those activities then saw."""
EVERY_QUEUE_STOPPING = asyncio.Event()


@activity.defn(name="drain_asking_the_chase")
async def drain_asking_the_chase(queues: int) -> None:
    """Holds its worker's drain until the other companion queue's activity has heard the stop
    too (or 10 s), then asks the workflow on the chase queue, as a draining delivery asks the
    chase whether its reminder may still go."""
    await activity.wait_for_worker_shutdown()
    STOPPING.append(activity.info().task_queue)
    if len(STOPPING) == queues:
        EVERY_QUEUE_STOPPING.set()
    try:
        await asyncio.wait_for(EVERY_QUEUE_STOPPING.wait(), timeout=10)
    except TimeoutError:
        ANSWERS.append(f"{activity.info().task_queue} stopped alone")
        return
    chase = activity.client().get_workflow_handle(activity.info().workflow_id)
    try:
        ANSWERS.append(
            await chase.query(DrainOnTheCompanions.ask, rpc_timeout=timedelta(seconds=5))
        )
    except RPCError as error:
        ANSWERS.append(f"the chase queue did not answer: {error}")


@workflow.defn(sandboxed=False)
class DrainOnTheCompanions:
    @workflow.run
    async def run(self, queues: list[str]) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    drain_asking_the_chase,
                    len(queues),
                    task_queue=queue,
                    start_to_close_timeout=timedelta(seconds=60),
                )
                for queue in queues
            )
        )

    @workflow.query
    def ask(self) -> str:
        return "told together, answered"


DRAIN = timedelta(seconds=30)


@pytest.mark.devserver
async def test_a_stop_drains_the_companion_queues_together_while_the_chase_queue_answers(
    dev_server_env,
):
    """Ctrl-C on `duely up` under a burst took over 20 s in CI (7 December): the process's
    workers stopped one after another, each queue's drain waiting for the one before while
    the queues not yet told took new work. The companion queues hear the stop together and
    drain together; the chase queue stops after them, because a draining delivery asks the
    chase whether its reminder may still go (a query needs a worker that still polls)."""
    client = dev_server_env.client
    base = f"stopping-{uuid.uuid4()}"
    companions = [queue_for(base, SYNC), queue_for(base, DELIVERY)]
    STOPPING.clear()
    ANSWERS.clear()
    EVERY_QUEUE_STOPPING.clear()
    workers = Workers(
        [
            Worker(client, task_queue=queue, activities=[drain_asking_the_chase],
                   workflows=[DrainOnTheCompanions], graceful_shutdown_timeout=DRAIN)
            for queue in [base, *companions]
        ]
    )  # fmt: skip
    async with workers:
        handle = await client.start_workflow(
            DrainOnTheCompanions.run, companions, id=base, task_queue=base
        )

        async def both_running() -> bool:
            return len((await handle.describe()).raw_description.pending_activities) == 2

        await eventually(both_running, "the two activities never started")
    assert ANSWERS == ["told together, answered"] * 2, ANSWERS
