"""Deterministic Temporal workflow code. No I/O library is imported here."""

from duely.workflows.health import HealthCheckWorkflow
from duely.workflows.sync import LedgerSyncWorkflow

ALL_WORKFLOWS = [HealthCheckWorkflow, LedgerSyncWorkflow]
