"""Thin Temporal activities: call an integration or the database, store the result."""
