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

MIN_PASSWORD_LENGTH = 10
# The passwords people reach for first, which guessing tries first (written for duely, in
# lower case; a password is compared after lower-casing and dropping a trailing number).
COMMON_PASSWORDS = frozenset(
    (
        "password",
        "passw0rd",
        "p@ssword",
        "p@ssw0rd",
        "passwordpassword",
        "password1",
        "mypassword",
        "123456789",
        "1234567890",
        "0123456789",
        "12345678910",
        "0987654321",
        "1122334455",
        "1q2w3e4r5t",
        "qwertyuiop",
        "qwertyuiop1",
        "qwerty123456",
        "asdfghjkl",
        "asdfghjkl1",
        "zxcvbnm123",
        "1qaz2wsx3edc",
        "iloveyou123",
        "letmein123",
        "welcome123",
        "welcome1234",
        "changeme123",
        "administrator",
        "admin12345",
        "adminadmin1",
        "trustno1234",
        "sunshine123",
        "football123",
        "baseball123",
        "superman123",
        "princess123",
        "starwars123",
        "dragon12345",
        "monkey12345",
        "master12345",
        "shadow12345",
        "michael1234",
        "jennifer123",
        "abc1234567",
        "abcdefghij",
        "abcd123456",
        "qazwsxedcrfv",
        "computer123",
        "internet123",
        "whatever123",
        "secret1234",
        "default123",
        "duelyduely",
        "collections",
        "invoices123",
        "accounting1",
    )
)  # fmt: skip


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is too easy to guess, in words for the person choosing it; None when
    it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"A password has at least {MIN_PASSWORD_LENGTH} characters."
    folded = password.lower()
    if folded in COMMON_PASSWORDS or folded.rstrip("0123456789!") in COMMON_PASSWORDS:
        return "That password is among the first any attacker tries: choose another."
    if len(set(folded)) <= 2:
        return "A password needs more than one or two different characters."
    if folded in "0123456789012345678901234567890" or folded in "abcdefghijklmnopqrstuvwxyz":
        return "A run of consecutive characters is guessed at once: choose another."
    if email and folded == email.lower():
        return "A password should not be your email address."
    return None


def hash_password(password: str, email: str = "") -> str:
    problem = password_problem(password, email)
    if problem:
        raise ValueError(problem)
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
