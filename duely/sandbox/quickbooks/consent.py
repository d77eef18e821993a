"""The sandbox's one user connecting a company on the consent page, as a browser would (see
duely/sandbox/consent_form.py).
"""

from __future__ import annotations

from duely.sandbox.consent_form import Choice, consent


async def connect_company(authorize_url: str, company_name: str | None = None) -> dict:
    """Pick `company_name` (the first company when None) and press Connect; returns the
    query parameters the app's callback receives (code, state and realmId, or error)."""

    def pick(choices: list[Choice]) -> list[Choice]:
        companies = [c for c in choices if c.name == "realm_id"]
        return [c for c in companies if company_name is None or c.label == company_name][:1]

    return await consent(authorize_url, pick)
