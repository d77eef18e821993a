"""duely's side of a ledger connection: connecting, the mirror of its customers and invoices, the
sync schedule."""
