"""Key wrapping under the key-encryption key (KEK). Pure: no database, no settings.

AES-256-GCM with a fresh 12-byte IV per wrap. The associated data names the purpose and the
owner (``b"mana-auth:vault-mk:<user id>"``), so a ciphertext copied onto another row does not
unwrap.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12


class UnwrapError(Exception):
    """The ciphertext does not open under any known KEK with this associated data."""


def kek_id(key: bytes) -> str:
    """A stable, public identifier for a KEK (a short hash; never the key itself)."""
    return hashlib.sha256(b"mana-auth:kek-id:" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    active: bytes
    retired: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.active, *self.retired):
            if len(key) != 32:
                raise ValueError("a KEK must be exactly 32 bytes")

    @property
    def active_id(self) -> str:
        return kek_id(self.active)

    def find(self, wanted_id: str) -> bytes | None:
        for key in (self.active, *self.retired):
            if kek_id(key) == wanted_id:
                return key
        return None


@dataclass(frozen=True)
class Wrapped:
    ciphertext: bytes
    iv: bytes
    kek_id: str


def associated_data(purpose: str, owner_id: object) -> bytes:
    return f"mana-auth:{purpose}:{owner_id}".encode()


def wrap(keyring: Keyring, plaintext: bytes | bytearray, *, aad: bytes) -> Wrapped:
    iv = os.urandom(IV_BYTES)
    ciphertext = AESGCM(keyring.active).encrypt(iv, plaintext, aad)
    return Wrapped(ciphertext=ciphertext, iv=iv, kek_id=keyring.active_id)


def unwrap(keyring: Keyring, *, ciphertext: bytes, iv: bytes, kek_id: str, aad: bytes) -> bytes:
    key = keyring.find(kek_id)
    if key is None:
        raise UnwrapError(f"unknown KEK id {kek_id}")
    try:
        return AESGCM(key).decrypt(bytes(iv), bytes(ciphertext), aad)
    except (InvalidTag, ValueError) as exc:
        raise UnwrapError("ciphertext does not open with this key and associated data") from exc


def rewrap(keyring: Keyring, *, ciphertext: bytes, iv: bytes, kek_id: str, aad: bytes) -> Wrapped:
    """Open a ciphertext under whichever KEK made it and wrap it again under the active KEK."""
    plaintext = bytearray(unwrap(keyring, ciphertext=ciphertext, iv=iv, kek_id=kek_id, aad=aad))
    try:
        return wrap(keyring, plaintext, aad=aad)
    finally:
        wipe(plaintext)


def wipe(buffer: bytearray | memoryview) -> None:
    """Overwrite key material in place. Python may hold other copies (the immutable ``bytes``
    a key was decoded from, interpreter buffers); this clears the one the caller owns."""
    buffer[:] = bytes(len(buffer))
