"""The keyring configured for this process (read from settings at call time)."""

from __future__ import annotations

from django.conf import settings

from mana_auth.kek.crypto import Keyring, Wrapped, rewrap, unwrap, wrap


def active_keyring() -> Keyring:
    return Keyring(active=settings.MANA_AUTH_KEK, retired=tuple(settings.MANA_AUTH_KEKS_RETIRED))


def active_kek_id() -> str:
    return active_keyring().active_id


def seal(plaintext: bytes | bytearray, *, aad: bytes) -> Wrapped:
    """Wrap ``plaintext`` under the active KEK."""
    return wrap(active_keyring(), plaintext, aad=aad)


def open_sealed(*, ciphertext: bytes, iv: bytes, kek_id: str, aad: bytes) -> bytes:
    """Unwrap with whichever configured KEK ``kek_id`` names."""
    return unwrap(active_keyring(), ciphertext=ciphertext, iv=iv, kek_id=kek_id, aad=aad)


def reseal(*, ciphertext: bytes, iv: bytes, kek_id: str, aad: bytes) -> Wrapped:
    """Move a ciphertext from whichever configured KEK made it to the active KEK."""
    return rewrap(active_keyring(), ciphertext=ciphertext, iv=iv, kek_id=kek_id, aad=aad)
