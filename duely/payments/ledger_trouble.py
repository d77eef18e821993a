"""Why a ledger would not take a card payment, told apart: a configuration problem that only a
person can put right, or an outage that passes by itself.

An outage (the ledger down, a 5xx, a rate limit, a timeout) is retried at once and then every
hour. A configuration problem is not worth half an hour of retries: the same refusal would come
back every time until someone changes a setting. It is shown to a person, with what to do,
and the chase still tries again every hour (at once when card payment settings are saved or
the ledger is reconnected), so the payment goes in by itself once it is fixed.
"""

from __future__ import annotations

from duely.integrations.ledgers.base import LedgerAuthError, LedgerError, LedgerRejected
from duely.models.ledger import PROVIDER_LABELS
from duely.payments.placing import NoPaymentAccount

CARD_PAYMENT_SETTINGS = "Settings > Organisation > Card payments (Stripe)"
CONNECTIONS = "the Connections page"

_ACCOUNT_REFUSALS = (
    "account could not be found",
    "payments can only be made to bank accounts or accounts with payments enabled",
    "account is archived",
)


def what_to_do(error: LedgerError, provider: str, currency: str, account_code: str) -> str:
    """What a person must change for the ledger to take the payment, in words a finance person
    can act on; "" when the failure is an outage that retrying rides out."""
    ledger = PROVIDER_LABELS.get(provider, provider.title())
    said = str(error).rstrip(".")
    if isinstance(error, NoPaymentAccount):
        return (
            f"no {ledger} account is set for card payments in {currency}. Choose the account "
            f"they are recorded to under {CARD_PAYMENT_SETTINGS}, 'Ledger account for card "
            f"payments' (for example {currency}=090, or *=090 for every currency)"
        )
    if isinstance(error, LedgerAuthError):
        return (
            f"duely's access to {ledger} has ended (revoked in {ledger}, or expired). Reconnect "
            f"{ledger} on {CONNECTIONS} ({ledger} said: {said})"
        )
    if not isinstance(error, LedgerRejected):
        return ""
    lowered = said.lower()
    if any(refusal in lowered for refusal in _ACCOUNT_REFUSALS):
        return (
            f"{ledger} will not take payments into account {account_code or '(none)'} "
            f"({ledger} said: {said}). In {ledger}, allow payments to that account (or "
            f"restore it), or choose another account under {CARD_PAYMENT_SETTINGS}"
        )
    if "contact" in lowered:
        return (
            f"{ledger} refused the payment because of the invoice's contact ({ledger} said: "
            f"{said}). In {ledger}, restore the contact (unarchive it, or add it back) so that "
            "the invoice can take payments"
        )
    return ""
