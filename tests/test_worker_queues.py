"""Which task queues a worker process polls (DUELY_WORKER_QUEUES) and their names."""

import pytest

from duely.core.temporal.queues import queue_for
from duely.settings import Settings
from duely.worker import polled_queues


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
