"""Which Stripe account takes an organisation's card payments.

A business is paid into its own account, never duely's: either with its own secret key, or
through Connect, where the platform's key acts on the business's `acct_...` (the
`Stripe-Account` header). Webhooks are verified with the business's own endpoint secret or
the platform's Connect endpoint secret.
"""

from __future__ import annotations

from duely.core.security import SecretBox
from duely.integrations.payments.stripe import StripeAccount
from duely.models import Organisation
from duely.settings import Settings


def stripe_account_of(settings: Settings, organisation: Organisation) -> StripeAccount | None:
    """None when the organisation cannot take card payments."""
    box = SecretBox(settings.resolved_secret_key)
    own_key = box.decrypt(organisation.stripe_secret_key_encrypted)
    if own_key:
        secret_key, account_id = own_key, ""
    elif organisation.stripe_account_id and settings.stripe_secret_key:
        secret_key, account_id = settings.stripe_secret_key, organisation.stripe_account_id
    else:
        return None
    publishable_key = organisation.stripe_publishable_key or settings.stripe_publishable_key
    if not publishable_key:
        return None
    return StripeAccount(
        api_base=settings.stripe_api_base,
        secret_key=secret_key,
        account_id=account_id,
        publishable_key=publishable_key,
        webhook_secrets=webhook_secrets_of(settings, organisation),
    )


def webhook_secrets_of(settings: Settings, organisation: Organisation | None) -> tuple[str, ...]:
    """The secrets a webhook for this organisation may be signed with: its own endpoint's
    and the platform's Connect endpoint's."""
    own = ""
    if organisation is not None:
        own = SecretBox(settings.resolved_secret_key).decrypt(
            organisation.stripe_webhook_secret_encrypted
        )
    return tuple(secret for secret in (own, settings.stripe_webhook_secret) if secret)


def payment_account_for(organisation: Organisation, currency: str) -> str:
    """The ledger account code card payments in `currency` are recorded to ("" if none)."""
    codes = dict(
        item.split("=", 1) for item in organisation.payment_accounts.split() if "=" in item
    )
    return codes.get(currency.upper(), codes.get("*", ""))
