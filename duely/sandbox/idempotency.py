"""Idempotent writes, shared by the ledger sandboxes: a repeat with the same key (and body)
gets the first answer again; the same key with another body is refused. Keys are kept for a
retention period of sandbox time.

Xero (Idempotency-Key header) keeps keys briefly (default 10 minutes), which is why clients
must also look payments up by Reference. QuickBooks (the `requestid` query parameter) answers a
repeat with the original response whatever its body: its sandbox fingerprints the path only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from duely.sandbox.clock import SandboxClock

MAX_KEY_LENGTH = 128


@dataclass
class StoredAnswer:
    fingerprint: str
    status: int
    body: dict
    stored: datetime


class IdempotencyMismatch(Exception):  # noqa: N818 - Xero's condition, answered as a 400
    """The key was used before with a different request."""


class IdempotencyKeys:
    def __init__(self, clock: SandboxClock, retention: timedelta = timedelta(minutes=10)) -> None:
        self.clock = clock
        self.retention = retention
        self._answers: dict[tuple[str, str, str], StoredAnswer] = {}

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()

    def _forget_old(self) -> None:
        horizon = self.clock.now() - self.retention
        for key in [k for k, answer in self._answers.items() if answer.stored < horizon]:
            del self._answers[key]

    def recall(
        self, client_id: str, tenant_id: str, key: str, fingerprint: str
    ) -> StoredAnswer | None:
        """The first answer for this key, if kept; IdempotencyMismatch for another request."""
        self._forget_old()
        answer = self._answers.get((client_id, tenant_id, key))
        if answer is None:
            return None
        if answer.fingerprint != fingerprint:
            raise IdempotencyMismatch(key)
        return answer

    def remember(
        self, client_id: str, tenant_id: str, key: str, fingerprint: str, status: int, body: dict
    ) -> None:
        self._answers[(client_id, tenant_id, key)] = StoredAnswer(
            fingerprint, status, body, self.clock.now()
        )
