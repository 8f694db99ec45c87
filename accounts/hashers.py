"""Password hashers: argon2id with configurable cost (OWASP's minimum by default: 19 MiB,
t=2, p=1), and the predecessor's scrypt format, which only verifies.

Hashes made with other parameters or another hasher verify and are upgraded to argon2id at the
next successful login (Django calls ``must_update`` and re-hashes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _

_BETTER_AUTH_SALT = re.compile(r"^[0-9a-f]{32}$")
_BETTER_AUTH_KEY = re.compile(r"^[0-9a-f]{128}$")


class ManaArgon2PasswordHasher(Argon2PasswordHasher):
    # Same algorithm name as Django's, so stored hashes stay interchangeable.
    algorithm = "argon2"

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_MEMORY_COST_KIB)

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_TIME_COST)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_PARALLELISM)


class BetterAuthScryptPasswordHasher(BasePasswordHasher):
    """Verify the password hashes the predecessor (Better Auth) stored, so its users sign in
    with the password they have; Django re-hashes with argon2id on that first sign-in.

    Better Auth (``@better-auth/utils/password``, 1.x) stores ``<salt>:<key>``: the salt is
    16 random bytes as 32 lower-case hex characters, the key is scrypt (N=16384, r=16, p=1,
    64 bytes) of the NFKC-normalised password, and the salt handed to scrypt is the UTF-8 of
    the 32-character hex *string*, not the 16 bytes it spells. Stored here as
    ``better_auth_scrypt$<base64url(salt bytes ‖ key), unpadded>`` (127 characters: the
    password column holds 128, the hex form would not fit). Listed after argon2 in
    ``PASSWORD_HASHERS``: it only verifies; ``must_update`` is always true, so no new hash is
    ever made in this format.
    """

    algorithm = "better_auth_scrypt"
    n = 16384
    r = 16
    p = 1
    dklen = 64
    salt_bytes = 16
    # Better Auth passes maxmem = 128·N·r·2; hashlib's default (32 MiB) is exactly 128·N·r.
    maxmem = 128 * n * r * 2

    def salt(self) -> str:
        return secrets.token_hex(self.salt_bytes)

    def _derive(self, password: str, salt: str) -> bytes:
        normalized = unicodedata.normalize("NFKC", password)
        return hashlib.scrypt(
            normalized.encode("utf-8"),
            salt=salt.encode("ascii"),
            n=self.n,
            r=self.r,
            p=self.p,
            dklen=self.dklen,
            maxmem=self.maxmem,
        )

    def pack(self, salt: str, key: bytes) -> str:
        """``better_auth_scrypt$…`` from the hex salt string and the derived key."""
        if not _BETTER_AUTH_SALT.match(salt or "") or len(key) != self.dklen:
            raise ValueError("a Better Auth salt is 32 lower-case hex characters, a key 64 bytes")
        payload = base64.urlsafe_b64encode(bytes.fromhex(salt) + key).rstrip(b"=")
        return f"{self.algorithm}${payload.decode('ascii')}"

    def encode(self, password: str, salt: str) -> str:
        return self.pack(salt, self._derive(password, salt))

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, _, payload = encoded.partition("$")
        if algorithm != self.algorithm:
            raise ValueError("not a better_auth_scrypt hash")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not base64url") from exc
        if len(raw) != self.salt_bytes + self.dklen:
            raise ValueError("not a salt and a key")
        return {
            "algorithm": algorithm,
            "salt": raw[: self.salt_bytes].hex(),
            "hash": raw[self.salt_bytes :].hex(),
        }

    def verify(self, password: str, encoded: str) -> bool:
        try:
            decoded = self.decode(encoded)
        except ValueError:
            return False
        derived = self._derive(password, decoded["salt"]).hex()
        return hmac.compare_digest(derived.encode(), decoded["hash"].encode())

    def safe_summary(self, encoded: str) -> dict[str, str]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        """Nothing to even out: every stored hash has the same cost."""


def better_auth_hash_to_django(stored: str) -> str | None:
    """``<salt>:<key>`` as Better Auth stores it → this service's encoding; None when the
    value is not in Better Auth's default scrypt format (a custom hasher, say)."""
    salt, sep, key = (stored or "").strip().partition(":")
    if not sep or not _BETTER_AUTH_SALT.match(salt) or not _BETTER_AUTH_KEY.match(key.lower()):
        return None
    return BetterAuthScryptPasswordHasher().pack(salt, bytes.fromhex(key))
