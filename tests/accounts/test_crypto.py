"""The access-token verifier on its own: pure functions, the clock passed in."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts import crypto

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


def _claims(**overrides):
    base = crypto.access_claims(
        user_id="00000000-0000-0000-0000-000000000001",
        email="a@example.com",
        role="user",
        tier="public",
        session_id="00000000-0000-0000-0000-000000000002",
        issuer="https://auth.mana.how",
        audience="mana",
        now=NOW,
        ttl_seconds=900,
    )
    base.update(overrides)
    return base


def _sign(claims, key=KEY, headers=None):
    return jwt.encode(
        claims, key, algorithm="EdDSA", headers=headers or {"kid": "k1", "typ": "at+jwt"}
    )


def _verify(token, now=NOW):
    return crypto.decode_access_token(
        token, public_key=KEY.public_key(), issuer="https://auth.mana.how", audience="mana", now=now
    )


def test_a_good_token_verifies():
    assert _verify(_sign(_claims()))["sub"].endswith("1")


def test_expiry_uses_the_clock_it_is_given():
    token = _sign(_claims())
    _verify(token, now=NOW + timedelta(seconds=899))
    with pytest.raises(crypto.TokenExpired):
        _verify(token, now=NOW + timedelta(seconds=906))


@pytest.mark.parametrize(
    "claims",
    [
        _claims(iss="https://evil.example"),
        _claims(aud="other"),
        _claims(exp=True),
        _claims(exp="9999999999"),
        {k: v for k, v in _claims().items() if k != "sid"},
    ],
)
def test_wrong_claims_are_refused(claims):
    with pytest.raises(crypto.TokenInvalid):
        _verify(_sign(claims))


def test_a_tampered_payload_or_another_key_is_refused():
    token = _sign(_claims())
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["role"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(crypto.TokenInvalid):
        _verify(f"{header}.{forged_payload}.{signature}")
    with pytest.raises(crypto.TokenInvalid):
        _verify(_sign(_claims(), key=Ed25519PrivateKey.generate()))


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30.e30.e30", "x" * 5000, "eyJhbGciOiJFZERTQSJ9.e30."],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(crypto.TokenInvalid):
        _verify(token)


@pytest.mark.parametrize(
    "headers",
    [
        {"kid": "k1", "typ": "something"},
        {"kid": "k1", "jku": "https://evil.example/jwks"},
        {"typ": "at+jwt"},
    ],
)
def test_header_shapes_we_never_issue_are_refused(headers):
    with pytest.raises(crypto.TokenInvalid):
        _verify(_sign(_claims(), headers=headers))
