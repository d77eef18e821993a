"""Deterministic Temporal workflow code. No I/O library is imported here.

The package imports nothing itself, so that activities can share `duely.workflows.names`
without importing the workflows that call them.
"""
