"""An emulated QuickBooks Online (Accounting API v3 and Intuit's OAuth 2.0) under /quickbooks."""

from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox

__all__ = ["QuickBooksSandbox"]
