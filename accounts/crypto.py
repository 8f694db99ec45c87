"""Token crypto: opaque tokens, their hashes, and EdDSA access tokens. Pure: clock passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
    return jwt.encode(
        dict(claims),
        private_key,
        algorithm=ALGORITHM,
        headers={"kid": kid, "typ": ACCESS_TOKEN_TYPE},
    )


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


def unverified_kid(token: str) -> str:
    """Read the header's ``kid`` after refusing every header shape we never issue."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed token") from exc
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


def decode_access_token(
    token: str,
    *,
    public_key: Ed25519PublicKey,
    issuer: str,
    audience: str,
    now: datetime,
    leeway_seconds: int = 5,
) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud`` and ``exp`` (against ``now``); return the claims."""
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"verify_exp": False, "verify_iat": False, "require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid("token does not verify") from exc
    exp = claims.get("exp")
    if not isinstance(exp, int):
        raise TokenInvalid("bad exp")
    if exp + leeway_seconds <= int(now.timestamp()):
        raise TokenExpired("token expired")
    return claims
