"""The sandbox's one user clicking "Allow access" on the consent page, as a browser would (see
duely/sandbox/consent_form.py).
"""

from __future__ import annotations

from duely.sandbox.consent_form import Choice, consent


async def allow_access(authorize_url: str, tenant_names: list[str] | None = None) -> dict:
    """Consent to `authorize_url` for the named tenants (all when None); returns the query
    parameters duely's callback receives (`code` and `state`, or `error`)."""

    def pick(choices: list[Choice]) -> list[Choice]:
        tenants = [c for c in choices if c.name == "tenant_ids"]
        return [c for c in tenants if tenant_names is None or c.label in tenant_names]

    return await consent(authorize_url, pick)
