"""Fault injection moved to duely.sandbox.faults (the ledger sandboxes share it)."""

from duely.sandbox.faults import FAILURES, DroppedResponse, FaultPlan, FaultRule, Faults

__all__ = ["FAILURES", "DroppedResponse", "FaultPlan", "FaultRule", "Faults"]
