"""An emulated AccountsIQ (the Integration 1.1 SOAP web service) under /accountsiq."""

from duely.sandbox.accountsiq.sandbox import AccountsIQSandbox

__all__ = ["AccountsIQSandbox"]
