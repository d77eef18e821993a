"""Password hashing, API token digests and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet

_hasher = PasswordHasher()

# Verifying against this when the email is unknown keeps login timing the same either way.
_DUMMY_HASH = _hasher.hash("duely-timing-equaliser")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> tuple[str, str]:
    """A fresh bearer token and the digest to store; the token itself is shown once."""
    token = "duely_" + secrets.token_urlsafe(32)
    return token, api_token_digest(token)


def api_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> tuple[str, str]:
    """A fresh browser session id for the cookie and the digest to store, so that reading the
    sessions table gives no one a way into a session."""
    session_id = secrets.token_urlsafe(32)
    return session_id, session_id_digest(session_id)


def session_id_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def derive_key(secret_key: str, purpose: str, length: int = 32) -> bytes:
    """A separate key per purpose, so the session key can never decrypt ledger tokens."""
    return hashlib.blake2b(
        secret_key.encode(), digest_size=length, person=b"duely-keys", salt=purpose.encode()[:16]
    ).digest()


class SecretBox:
    """Encrypts provider tokens and webhook secrets for the database (Fernet)."""

    def __init__(self, secret_key: str) -> None:
        key = base64.urlsafe_b64encode(derive_key(secret_key, "secrets-at-rest"))
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode() if plaintext else ""

    def decrypt(self, ciphertext: str) -> str:
        return self._fernet.decrypt(ciphertext.encode()).decode() if ciphertext else ""
