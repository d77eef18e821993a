"""The Xero sandbox: a faithful local emulator of Xero's identity service, connections and
Accounting API, with an admin API beside it. Start from `XeroSandbox`."""

from duely.sandbox.xero.sandbox import XeroSandbox

__all__ = ["XeroSandbox"]
