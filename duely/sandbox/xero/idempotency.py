"""Idempotency keys moved to duely.sandbox.idempotency (the ledger sandboxes share them)."""

from duely.sandbox.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeys,
    IdempotencyMismatch,
    StoredAnswer,
)

__all__ = ["MAX_KEY_LENGTH", "IdempotencyKeys", "IdempotencyMismatch", "StoredAnswer"]
