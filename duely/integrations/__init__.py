"""Clients of external systems (ledgers, Stripe, mail). They know nothing of Temporal."""
