"""Recorded histories of real chases replay against today's workflow code.

A change that makes a workflow take a different path through an old history would fail
every chase running in production when it deploys (a non-determinism error): this test
catches it first. To change a workflow on purpose, use `workflow.patched()`; re-record
(tests/replay/record.py) only for a new behaviour that old histories never had.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from duely.worker import ALL_WORKFLOWS, WORKFLOW_RUNNER

HISTORIES = sorted(Path(__file__).parent.glob("*.json"))
RECORDED = {path.stem: path.read_text() for path in HISTORIES}


def test_there_is_a_history_for_each_chase_workflow():
    types = {
        json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"][
            "name"
        ]
        for text in RECORDED.values()
    }
    assert {"InvoiceChaseWorkflow", "CustomerOutboxWorkflow"} <= types


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str):
    history = WorkflowHistory.from_json(name, RECORDED[name])
    replayer = Replayer(workflows=ALL_WORKFLOWS, workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
