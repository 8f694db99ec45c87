"""The predecessor's storage formats, decoded. Pure: no database, no settings, no clock.

Every format here is Better Auth's (1.7 line) or the predecessor's own, as its source writes
it; README "Migrating from the predecessor" names the files and commits each was read from.

- Secrets of the two-factor plugin are ``symmetricEncrypt``-ed: XChaCha20-Poly1305 under
  SHA-256 of the auth secret (UTF-8), stored as hex of nonce (24 bytes) ‖ ciphertext ‖ tag
  (16 bytes); with secret rotation configured, inside the envelope ``$ba$<version>$<hex>``.
- The TOTP key is the UTF-8 of the decrypted secret string, unless that string starts with
  ``base32:`` (secrets Better Auth imported from elsewhere): then the rest is base32.
- Backup codes are a JSON array of strings, encrypted like the secret (the plugin's default
  ``storeBackupCodes: "encrypted"``) or stored as plain JSON.
- Vault master keys are AES-256-GCM under the predecessor's KEK with a 12-byte IV and no
  associated data, both base64 (Web Crypto output: ciphertext ‖ 16-byte tag).
- Passkeys: ``credentialID`` base64url, ``publicKey`` base64 of the COSE key, ``transports``
  comma-separated.
- API keys: ``permissions`` is a JSON object ``{resource: [action, …]}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError

ENVELOPE_PREFIX = "$ba$"
XCHACHA_NONCE_BYTES = 24
XCHACHA_TAG_BYTES = 16
BASE32_SECRET_PREFIX = "base32:"
MASTER_KEY_BYTES = 32
AES_GCM_IV_BYTES = 12
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")


class FormatError(ValueError):
    """A stored value that is not in the format it should be, or does not open."""


# --- The auth secret and its rotation -------------------------------------------------------------


@dataclass(frozen=True)
class SourceSecrets:
    """The predecessor's ``BETTER_AUTH_SECRET`` (``legacy``) and, when secret rotation was
    configured, its ``BETTER_AUTH_SECRETS`` versions. Never printed (``repr`` hides them)."""

    legacy: str | None = field(default=None, repr=False)
    versions: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.legacy) or bool(self.versions)


def secrets_versions_parse(value: str) -> dict[int, str]:
    """``BETTER_AUTH_SECRETS``: ``"<version>:<secret>,<version>:<secret>"`` (newest first)."""
    versions: dict[int, str] = {}
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        raw_version, sep, secret = entry.partition(":")
        if not sep or not raw_version.strip().isdigit() or not secret.strip():
            raise FormatError(
                'expected "<version>:<secret>" entries separated by commas '
                "(Better Auth's BETTER_AUTH_SECRETS format)"
            )
        version = int(raw_version.strip())
        if version in versions:
            raise FormatError(f"version {version} appears twice")
        versions[version] = secret.strip()
    if not versions:
        raise FormatError("no secret in it")
    return versions


def _xchacha_open(hex_data: str, secret: str) -> str:
    if not _HEX.match(hex_data or ""):
        raise FormatError("not hex")
    raw = bytes.fromhex(hex_data)
    if len(raw) < XCHACHA_NONCE_BYTES + XCHACHA_TAG_BYTES:
        raise FormatError("too short for nonce and tag")
    key = hashlib.sha256(secret.encode("utf-8")).digest()
    nonce, sealed = raw[:XCHACHA_NONCE_BYTES], raw[XCHACHA_NONCE_BYTES:]
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, None, nonce, key)
    except CryptoError as exc:
        raise FormatError("does not open with this secret") from exc
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("opens, but not to UTF-8 text") from exc


def symmetric_decrypt(data: str, secrets: SourceSecrets) -> str:
    """Better Auth's ``symmetricDecrypt``: the envelope names its secret version; bare hex
    was made with the single (legacy) secret."""
    if not isinstance(data, str) or not data:
        raise FormatError("empty")
    if data.startswith(ENVELOPE_PREFIX):
        raw_version, sep, ciphertext = data[len(ENVELOPE_PREFIX) :].partition("$")
        if not sep or not raw_version.isdigit():
            raise FormatError("malformed $ba$ envelope")
        secret = secrets.versions.get(int(raw_version))
        if secret is None:
            raise FormatError(f"secret version {int(raw_version)} is not among the secrets given")
        return _xchacha_open(ciphertext, secret)
    if not secrets.legacy:
        raise FormatError("bare-hex ciphertext needs the single secret (BETTER_AUTH_SECRET)")
    return _xchacha_open(data, secrets.legacy)


# --- Two-factor ---------------------------------------------------------------------------------


def totp_seed(secret: str) -> bytes:
    """The HMAC key Better Auth's TOTP uses for a decrypted secret string."""
    if secret.startswith(BASE32_SECRET_PREFIX):
        encoded = secret[len(BASE32_SECRET_PREFIX) :].upper().replace(" ", "")
        try:
            return base64.b32decode(encoded + "=" * (-len(encoded) % 8))
        except binascii.Error as exc:
            raise FormatError("base32: secret does not decode") from exc
    if not secret:
        raise FormatError("empty TOTP secret")
    return secret.encode("utf-8")


def backup_codes_parse(stored: str, secrets: SourceSecrets) -> list[str]:
    """The stored backup codes as a list: plain JSON, or encrypted JSON."""
    text = stored
    if not (isinstance(stored, str) and stored.lstrip().startswith("[")):
        text = symmetric_decrypt(stored, secrets)
    try:
        codes = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise FormatError("backup codes are not JSON") from exc
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise FormatError("backup codes are not a list of strings")
    return [c for c in codes if c.strip()]


# --- Base64 in its several spellings ------------------------------------------------------------


def b64_any(value: str) -> bytes:
    """Standard or url-safe base64, padded or not (the predecessor wrote both)."""
    if not isinstance(value, str) or not value.strip():
        raise FormatError("empty")
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("not base64") from exc


# --- Vault -------------------------------------------------------------------------------------


def vault_unwrap(*, wrapped_mk: str, wrap_iv: str, keks: Sequence[bytes]) -> bytes:
    """Open a predecessor vault wrap (AES-256-GCM, no associated data) with the first KEK
    that opens it. The tag authenticates: trying a wrong key is safe and simply fails."""
    ciphertext, iv = b64_any(wrapped_mk), b64_any(wrap_iv)
    if len(iv) != AES_GCM_IV_BYTES:
        raise FormatError("the IV is not 12 bytes")
    for kek in keks:
        try:
            master_key = AESGCM(kek).decrypt(iv, ciphertext, None)
        except (InvalidTag, ValueError):
            continue
        if len(master_key) != MASTER_KEY_BYTES:
            raise FormatError("opens, but not to a 32-byte master key")
        return master_key
    raise FormatError("opens under none of the KEKs given")


# --- Passkeys ----------------------------------------------------------------------------------


# SimpleWebAuthn's names (what Better Auth stored) → py_webauthn's (what this service stores).
_DEVICE_TYPES = {
    "singleDevice": "single_device",
    "multiDevice": "multi_device",
    "single_device": "single_device",
    "multi_device": "multi_device",
}


def transports_split(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def device_type(value: str | None) -> str:
    """The backup eligibility as this service names it; '' (unchecked) when unknown."""
    return _DEVICE_TYPES.get((value or "").strip(), "")


# --- JSON columns -----------------------------------------------------------------------------


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object column (text or jsonb); anything else is an empty object."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


# --- Roles and scopes --------------------------------------------------------------------------


def best_role(raw: str | None, ranked: Sequence[str]) -> tuple[str | None, list[str]]:
    """The highest of ``ranked`` among a member's (comma-separated) Better Auth roles, and
    the roles that mean nothing here."""
    roles = [r.strip() for r in (raw or "").split(",") if r.strip()]
    known = [r for r in ranked if r in roles]
    return (known[0] if known else None), [r for r in roles if r not in ranked]


def permissions_to_scopes(
    permissions: Any, metadata: Any, known: Iterable[str]
) -> tuple[list[str] | None, list[str]]:
    """Scopes a Better Auth key maps to: ``{resource: [action]}`` → ``resource:action``,
    plus any ``metadata.scopes`` list. Returns ``(scopes, unmapped)``; ``scopes`` is None when
    the key had no restriction at all (no permissions, no scopes)."""
    allowed = set(known)
    wanted: list[str] = []
    parsed = json_object(permissions)
    for resource, actions in parsed.items():
        if isinstance(actions, list):
            wanted += [f"{resource}:{action}" for action in actions if isinstance(action, str)]
    listed = json_object(metadata).get("scopes")
    if isinstance(listed, list):
        wanted += [s for s in listed if isinstance(s, str)]
    if not parsed and not isinstance(listed, list):
        return None, []
    scopes = sorted({s for s in wanted if s in allowed})
    return scopes, sorted({s for s in wanted if s not in allowed})
