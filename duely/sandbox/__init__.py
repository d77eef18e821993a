"""Local emulators of the ledgers duely connects to (DESIGN section 4).

They serve tests, the benchmark and the one-command demo on http://127.0.0.1:8100, each
under its own prefix (`/xero`, `/quickbooks`; AccountsIQ will mount beside them). Fidelity to
the real services is what makes them worth having: see `tests/sandbox/` for the contract
tests against the official specs.
"""

from duely.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
