"""Ledger clients: one module per accounting system, all behind `base.Ledger`."""
