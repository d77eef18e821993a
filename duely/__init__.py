"""duely: an open-source accounts-receivable collections engine."""

__version__ = "0.1.0"
