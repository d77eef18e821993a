"""The sandbox clock moved to duely.sandbox.clock (the ledger sandboxes share it)."""

from duely.sandbox.clock import SandboxClock

__all__ = ["SandboxClock"]
