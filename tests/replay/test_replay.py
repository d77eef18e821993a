"""Recorded histories of real chases replay against today's workflow code.

A change that makes a workflow take a different path through an old history would fail
every chase running in production when it deploys (a non-determinism error): this test
catches it first. To change a workflow on purpose, put it behind `workflow.patched()` and
record a new scenario (tests/replay/record.py). Histories are append-only: HISTORIES.sha256
lists each one's digest, and a history edited, removed or added without a listing fails here.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import duely.workflows
from duely.core.temporal.codec import data_converter
from duely.outbox import send_times
from duely.worker import ALL_WORKFLOWS, WORKFLOW_RUNNER
from duely.workflows.chase import CONTINUE_WHEN_ANSWERED, TRUSTED_ENGINE
from duely.workflows.outbox import SEND_NOW
from tests.replay.record import SECRET_KEY

HERE = Path(__file__).parent
HISTORIES = sorted(HERE.glob("*.json"))
RECORDED = {path.stem: path.read_text() for path in HISTORIES}
WORKFLOWS = Path(duely.workflows.__file__).parent


def replayer() -> Replayer:
    """With the recorder's codec, as the worker has: histories recorded since the payload codec
    are encrypted with the recorder's key, the older ones are plain and pass through it."""
    return Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=data_converter(SECRET_KEY),
    )


def listed() -> dict[str, str]:
    lines = (HERE / "HISTORIES.sha256").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def test_recorded_histories_are_never_edited_or_removed():
    digests = listed()
    present = {path.name for path in HISTORIES}
    assert not set(digests) - present, "a recorded history was removed"
    assert not present - set(digests), "a history is not listed: record it with record.py"
    for path in HISTORIES:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == digests[path.name], f"{path.name} was edited; record a new one"


def patches(text: str) -> set[str]:
    """The ids of the `workflow.patched` markers a history recorded."""
    found = set()
    for event in json.loads(text)["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            for payload in marker["details"]["patch-data"]["payloads"]:
                found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def patches_in_code() -> set[str]:
    """The id of every `workflow.patched(NAME)` in the workflows, NAME a module constant."""
    found = set()
    for path in WORKFLOWS.glob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "patched"
            ):
                (argument,) = node.args
                assert isinstance(argument, ast.Name), f"{path.name}: name each patch's id"
                found.add(constants[argument.id])
    return found


def test_every_patch_has_histories_recorded_by_its_code():
    in_code = patches_in_code()
    assert {TRUSTED_ENGINE, SEND_NOW, CONTINUE_WHEN_ANSWERED} <= in_code  # the reading works
    recorded = set().union(*(patches(text) for text in RECORDED.values()))
    assert not in_code - recorded, "record a scenario for each new patch (record.py)"


def test_there_is_a_history_for_each_workflow_a_deploy_may_find_running():
    """Chases and outboxes run for months, an import waits a week for its person, a sync runs
    for minutes: each may be mid-run when a new worker replays it."""
    types = {
        json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"][
            "name"
        ]
        for text in RECORDED.values()
    }
    assert {
        "InvoiceChaseWorkflow",
        "CustomerOutboxWorkflow",
        "LedgerSyncWorkflow",
        "SpreadsheetImportWorkflow",
    } <= types


def test_each_chase_workflow_has_a_history_that_continues_as_new_and_one_carried_over():
    seen = {"InvoiceChaseWorkflow": set(), "CustomerOutboxWorkflow": set()}
    for text in RECORDED.values():
        events = json.loads(text)["events"]
        started = events[0]["workflowExecutionStartedEventAttributes"]
        kind = started["workflowType"]["name"]
        if events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW":
            seen.setdefault(kind, set()).add("continued")
        if started.get("continuedExecutionRunId"):
            seen.setdefault(kind, set()).add("carried over")
    assert seen["InvoiceChaseWorkflow"] == {"continued", "carried over"}
    assert seen["CustomerOutboxWorkflow"] == {"continued", "carried over"}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str):
    history = WorkflowHistory.from_json(name, RECORDED[name])
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_a_changed_holiday_calendar_does_not_change_a_replay(monkeypatch):
    """Finding 10: send times came from the `holidays` package inside the workflow, so a new
    release of it (a holiday added) could change a replay. Now the calendar is read in
    activities and its answers are in the history: a replay with every day a holiday still
    takes the same path (the same change fails chase_walked, recorded before the patch)."""
    monkeypatch.setattr(send_times, "is_business_day", lambda day, window: day.weekday() < 4)
    for name in ("trusted_engine-walked", "trusted_engine-outbox_waiting"):
        history = WorkflowHistory.from_json(name, RECORDED[name])
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, name
