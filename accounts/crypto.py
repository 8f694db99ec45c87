"""Token crypto: opaque tokens, their hashes, and EdDSA access tokens. Pure: clock passed in."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mana_auth import jsonsafe

ACCESS_TOKEN_TYPE = "at+jwt"
ALGORITHM = "EdDSA"
_FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c", "crit")
REQUIRED_CLAIMS = ("sub", "sid", "iss", "aud", "iat", "exp", "jti")


class TokenInvalid(Exception):
    """Missing, malformed or badly signed."""


class TokenExpired(Exception):
    """Well formed and signed, but past ``exp``."""


def make_opaque_token(prefix: str = "", nbytes: int = 32) -> str:
    """A random token of ``nbytes`` (≥128 bits by default 256), url-safe."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def make_kid(public_key: bytes) -> str:
    """The RFC 7638 thumbprint of an Ed25519 OKP key."""
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{b64url(public_key)}"}}'
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: bytes, kid: str) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(public_key),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def sign_access_token(
    *, private_key: Ed25519PrivateKey, kid: str, claims: Mapping[str, Any]
) -> str:
    header = {"alg": ALGORITHM, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url(private_key.sign(signing_input.encode()))


def access_claims(
    *,
    user_id: uuid.UUID,
    email: str,
    role: str,
    tier: str,
    session_id: uuid.UUID,
    issuer: str,
    audience: str,
    now: datetime,
    ttl_seconds: int,
) -> dict[str, Any]:
    iat = int(now.timestamp())
    return {
        "sub": str(user_id),
        "email": email,
        "role": role,
        "tier": tier,
        "sid": str(session_id),
        "iss": issuer,
        "aud": audience,
        "iat": iat,
        "exp": iat + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }


_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class CompactToken:
    """A JWS in compact form, split and its header decoded; nothing verified yet."""

    header: dict[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def _segment(value: str) -> bytes:
    if not _SEGMENT_RE.fullmatch(value):
        raise TokenInvalid("malformed token")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error) as exc:
        raise TokenInvalid("malformed token") from exc


def parse_compact(token: str) -> CompactToken:
    """Split a compact JWS and decode its parts. Verification is PyJWT-free on purpose: this
    runs on every authenticated request, and the direct path costs a fraction of PyJWT's."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("malformed token")
    header_raw, payload_raw, signature_raw = (_segment(part) for part in parts)
    try:
        header = jsonsafe.loads(header_raw)
    except ValueError as exc:
        raise TokenInvalid("malformed header") from exc
    if not isinstance(header, dict):
        raise TokenInvalid("malformed header")
    return CompactToken(
        header=header,
        signing_input=f"{parts[0]}.{parts[1]}".encode(),
        payload=payload_raw,
        signature=signature_raw,
    )


def header_kid(token: CompactToken) -> str:
    """The header's ``kid``, after refusing every header shape we never issue."""
    header = token.header
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid("unexpected algorithm")
    if header.get("typ") not in (ACCESS_TOKEN_TYPE, "JWT"):
        raise TokenInvalid("unexpected token type")
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise TokenInvalid("embedded keys are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 64:
        raise TokenInvalid("missing kid")
    return kid


def verify_compact(
    token: CompactToken,
    *,
    public_key: Ed25519PublicKey,
    issuer: str,
    audience: str,
    now: datetime,
    leeway_seconds: int = 5,
) -> dict[str, Any]:
    """Verify the Ed25519 signature, then ``iss``, ``aud`` and ``exp`` against ``now``."""
    header_kid(token)
    if len(token.signature) != 64:
        raise TokenInvalid("bad signature")
    try:
        public_key.verify(token.signature, token.signing_input)
    except InvalidSignature as exc:
        raise TokenInvalid("token does not verify") from exc
    try:
        claims = jsonsafe.loads(token.payload)
    except ValueError as exc:
        raise TokenInvalid("malformed claims") from exc
    if not isinstance(claims, dict) or any(name not in claims for name in REQUIRED_CLAIMS):
        raise TokenInvalid("missing claims")
    if claims["iss"] != issuer:
        raise TokenInvalid("wrong issuer")
    aud = claims["aud"]
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise TokenInvalid("wrong audience")
    exp = claims["exp"]
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenInvalid("bad exp")
    if exp + leeway_seconds <= int(now.timestamp()):
        raise TokenExpired("token expired")
    return claims


def decode_access_token(
    token: str,
    *,
    public_key: Ed25519PublicKey,
    issuer: str,
    audience: str,
    now: datetime,
    leeway_seconds: int = 5,
) -> dict[str, Any]:
    """Verify a compact access token and return its claims (see ``verify_compact``)."""
    return verify_compact(
        parse_compact(token),
        public_key=public_key,
        issuer=issuer,
        audience=audience,
        now=now,
        leeway_seconds=leeway_seconds,
    )
