"""Temporal payloads encrypted, so workflow histories hold no customer's personal data.

A chase's memory, an outbox's recipients, a failed send's error: everything duely hands to
Temporal is a payload in a workflow history, and anyone with the Temporal Web UI (the
operators' console) reads histories. With this codec Temporal stores only ciphertext: each
payload is encrypted with AES-GCM under a key derived from DUELY_SECRET_KEY, and only duely's
own processes (web, worker, CLI, all connecting through `data_converter`) and signed-in admins,
through the codec endpoint the Temporal UI calls (duely/web/codec.py), see them in clear.

Histories recorded before the codec hold plain payloads: decoding leaves a payload that is not
marked as encrypted untouched, so those workflows keep running and replaying.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from duely.core.security import derive_key

ENCODING = b"binary/encrypted"
"""The `encoding` metadata of an encrypted payload (the name Temporal's samples use, which the
Temporal UI shows as is)."""
KEY_ID = "encryption-key-id"
"""Metadata naming the key a payload was encrypted with, so a key can be rotated later: the
old one is still known by its id."""
KEY_PURPOSE = "temporal-codec"
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """An encrypted payload this duely cannot open: another key, or altered bytes."""


class EncryptionCodec(PayloadCodec):
    """AES-GCM over each whole serialized payload (its metadata too, so the payload's type is
    hidden as well as its value), with a random nonce per payload."""

    def __init__(self, secret_key: str) -> None:
        key = derive_key(secret_key, KEY_PURPOSE)
        self._aead = AESGCM(key)
        # A digest names the key without revealing it.
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.key_id.encode()
        # The key id is authenticated too: a payload relabelled with another id fails.
        sealed = self._aead.encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before the codec: plain
        key_id = payload.metadata.get(KEY_ID, b"")
        if key_id.decode(errors="replace") != self.key_id:
            raise PayloadDecryptionError(
                f"a Temporal payload is encrypted with key {key_id.decode(errors='replace')!r}"
                f", but this duely's secret key gives key {self.key_id!r}: the worker, the web "
                "app and the CLI must all run with the DUELY_SECRET_KEY that wrote the history"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, key_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"a Temporal payload encrypted with key {self.key_id!r} does not authenticate: "
                "it was altered or damaged"
            ) from None
        return Payload.FromString(plain)


def data_converter(secret_key: str) -> DataConverter:
    """The converter of every Temporal client and worker duely makes (and its tests make).

    Failures are converted with their message and stack trace moved into an encoded (so
    encrypted) attribute: an error's text can name a recipient (a mail server refusing
    "sam@customer.test"), and a failure's message is not a payload otherwise."""
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=EncryptionCodec(secret_key),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def encrypts_with(converter: DataConverter, secret_key: str) -> bool:
    """Whether `converter` encrypts payloads with `secret_key`'s key."""
    codec = converter.payload_codec
    return isinstance(codec, EncryptionCodec) and codec.key_id == EncryptionCodec(secret_key).key_id
