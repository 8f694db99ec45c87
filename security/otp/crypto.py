"""TOTP and backup-code primitives. Pure: no database, no settings, the clock passed in.

The TOTP arithmetic is django-otp's (``django_otp.oath.TOTP``); this module only pins the
parameters and adds the rules around it: a 160-bit seed, at most one step of drift, no code
accepted twice (``last_t``), and backup codes that exist in the database only as hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import quote, urlencode

import segno
from django_otp.oath import TOTP

SEED_BYTES = 20  # 160 bits, RFC 4226's recommendation and what authenticator apps expect
STEP_SECONDS = 30
DIGITS = 6
TOLERANCE_STEPS = 1  # accept the previous and the next code, never further
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: 5 bits a character
_BACKUP_CODE_CHARS = 16  # 80 bits
_BACKUP_HASH_PREFIX = b"mana-auth:backup-code:"
_TOTP_CODE_RE = re.compile(rf"^[0-9]{{{DIGITS}}}$")


def seed_generate() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def seed_base32(seed: bytes) -> str:
    """The seed as authenticator apps type it (RFC 4648 base32, no padding)."""
    return base64.b32encode(seed).decode("ascii").rstrip("=")


def otpauth_uri(*, seed: bytes, account: str, issuer: str) -> str:
    """The Key URI Format understood by authenticator apps (``otpauth://totp/…``)."""
    issuer = issuer.replace(":", "")
    label = f"{issuer}:{account}" if issuer else account
    params = {
        "secret": seed_base32(seed),
        "algorithm": "SHA1",
        "digits": DIGITS,
        "period": STEP_SECONDS,
    }
    query = urlencode(params) + (f"&issuer={quote(issuer)}" if issuer else "")
    return f"otpauth://totp/{quote(label, safe=':@')}?{query}"


def qr_svg(data: str) -> str:
    """An inline SVG QR code of ``data`` (no external request, no image file)."""
    return str(segno.make(data, error="m").svg_inline(scale=4, border=2))


def totp_code_normalize(code: str) -> str | None:
    """Digits only (spaces are forgiven, anything else is not a code)."""
    if not isinstance(code, str):
        return None
    compact = "".join(code.split())
    return compact if _TOTP_CODE_RE.match(compact) else None


def totp_match(
    *,
    seed: bytes,
    code: str,
    now: float,
    last_t: int,
    t0: int = 0,
    step: int = STEP_SECONDS,
    digits: int = DIGITS,
) -> int | None:
    """Return the time step ``code`` belongs to, or None.

    Looks one step back and one step ahead of ``now`` and never at a step at or before
    ``last_t``: a code, once accepted, cannot be used again (nor can an older one).
    """
    normalized = totp_code_normalize(code)
    if normalized is None:
        return None
    totp = TOTP(seed, step=step, t0=t0, digits=digits, drift=0)
    totp.time = now
    if not totp.verify(int(normalized), tolerance=TOLERANCE_STEPS, min_t=last_t + 1):
        return None
    return int(totp.t())


def backup_code_generate() -> str:
    """A fresh backup code of 80 random bits, grouped for reading: ``abcd-efgh-ijkl-mnop``."""
    raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(_BACKUP_CODE_CHARS))
    return "-".join(raw[index : index + 4] for index in range(0, _BACKUP_CODE_CHARS, 4))


def backup_code_normalize(code: str) -> str:
    """What the user typed, without grouping, spaces or case."""
    if not isinstance(code, str):
        return ""
    return "".join(ch for ch in code.lower() if ch not in "- \t")


def backup_code_hash(code: str) -> str:
    """SHA-256 of the normalised code. A code carries 80 random bits, so a fast hash is
    enough: there is nothing to brute-force from the hash."""
    return hashlib.sha256(_BACKUP_HASH_PREFIX + backup_code_normalize(code).encode()).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
