"""The producing side of the predecessor's formats, written from Better Auth's source (1.7) so
the tests can make the rows Better Auth would have made. Checked against output of Better Auth
itself in ``test_formats.py``.

- ``hash_password``: ``@better-auth/utils/password`` — scrypt(NFKC(password), salt = the
  32-hex-character salt *string*, N=16384, r=16, p=1, dkLen=64) → ``<salt>:<key hex>``.
- ``symmetric_encrypt``: ``better-auth/src/crypto/index.ts`` — XChaCha20-Poly1305 under
  SHA-256(secret), ``managedNonce`` puts the 24-byte nonce first, hex; with a version, the
  ``$ba$<version>$`` envelope of secret rotation.
- ``api_key_hash``: the api-key plugin's ``defaultKeyHasher`` — base64url(SHA-256), no padding.
- ``vault_wrap``: the predecessor's kek.ts — AES-256-GCM, fresh 12-byte IV, no associated data,
  both base64.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
import unicodedata

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

_ALNUM = string.ascii_letters + string.digits


def generate_id(length: int = 32) -> str:
    """Better Auth's default ``generateId``: random letters and digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    key = hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode(),
        salt=salt.encode(),
        n=16384,
        r=16,
        p=1,
        dklen=64,
        maxmem=128 * 16384 * 16 * 2,
    )
    return f"{salt}:{key.hex()}"


def symmetric_encrypt(data: str, secret: str, version: int | None = None) -> str:
    key = hashlib.sha256(secret.encode()).digest()
    nonce = os.urandom(24)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(data.encode(), None, nonce, key)
    hex_data = (nonce + sealed).hex()
    return hex_data if version is None else f"$ba${version}${hex_data}"


def api_key_hash(key: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).rstrip(b"=").decode()


def vault_wrap(master_key: bytes, kek: bytes) -> tuple[str, str]:
    iv = os.urandom(12)
    ciphertext = AESGCM(kek).encrypt(iv, master_key, None)
    return base64.b64encode(ciphertext).decode(), base64.b64encode(iv).decode()


def totp_secret() -> str:
    """``generateRandomString(32)``: what the plugin encrypts and uses as the HMAC key."""
    return generate_id(32)


def backup_codes(count: int = 10) -> list[str]:
    """The plugin's default: 10 characters of a-z, 0-9, A-Z as ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(count):
        raw = generate_id(10)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def otpauth_secret(secret: str) -> str:
    """The base32 an authenticator app was given: of the secret string's UTF-8 bytes."""
    return base64.b32encode(secret.encode()).decode().rstrip("=")
