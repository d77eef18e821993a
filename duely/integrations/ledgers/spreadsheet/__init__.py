"""The spreadsheet ledger: what an organisation's confirmed spreadsheet imports say, as a
Ledger (see ledger.py)."""

from duely.integrations.ledgers.spreadsheet.ledger import SpreadsheetLedger

__all__ = ["SpreadsheetLedger"]
