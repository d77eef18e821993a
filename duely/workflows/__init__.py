"""Deterministic Temporal workflow code. No I/O library is imported here."""

from duely.workflows.health import HealthCheckWorkflow

ALL_WORKFLOWS = [HealthCheckWorkflow]
