"""QuickBooks Online's Accounting API v3, behind duely's Ledger protocol."""
