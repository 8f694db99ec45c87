"""Server-side ceremony state in the shared state (Redis or PostgreSQL): 5 minutes, single use.

Registration state is bound to the user (and the session that asked for it). Sign-in state is
found from its challenge: the client sends back the credential only, and the challenge inside
``clientDataJSON`` (32 random bytes, handed out once) names the state; only a hash of it is
the key. The ``ceremonyId`` handed out with the options is optional for clients: when one is
sent back it must match. Single use is the store's: ``take_once`` is one atomic ``GETDEL`` or
``DELETE … RETURNING``, so of two concurrent verifications exactly one gets the state.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from accounts.passkeys.ceremony import CHALLENGE_BYTES
from security import shared_state

CHALLENGE_TTL_SECONDS = 300


@dataclass(frozen=True)
class RegistrationState:
    challenge: bytes
    session_id: str


@dataclass(frozen=True)
class SignInState:
    challenge: bytes
    identified: bool  # the client named an email: only that account's passkeys may answer
    user_id: str | None  # the named account, None when unknown or without passkeys


def _digest(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()


def challenge_new() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def _registration_key(user_id: object) -> str:
    return f"passkey:reg:{user_id}"


def _sign_in_key(challenge: bytes) -> str:
    return f"passkey:auth:{_digest(challenge)}"


def registration_store(*, user_id: object, session_id: object, challenge: bytes) -> None:
    """Keep the pending registration (a newer one replaces it)."""
    shared_state.put(
        _registration_key(user_id),
        {"challenge": challenge.hex(), "sid": str(session_id)},
        ttl=CHALLENGE_TTL_SECONDS,
    )


def registration_take(*, user_id: object) -> RegistrationState | None:
    data = shared_state.take_once(_registration_key(user_id))
    if not isinstance(data, dict) or not isinstance(data.get("challenge"), str):
        return None
    return RegistrationState(challenge=bytes.fromhex(data["challenge"]), session_id=data["sid"])


def sign_in_store(*, challenge: bytes, identified: bool, user_id: object | None) -> str:
    """Keep the sign-in state under its challenge; returns the (optional) ceremony id."""
    ceremony_id = secrets.token_urlsafe(32)
    shared_state.put(
        _sign_in_key(challenge),
        {
            "challenge": challenge.hex(),
            "identified": identified,
            "uid": str(user_id) if user_id else None,
            "cid": _digest(ceremony_id),
        },
        ttl=CHALLENGE_TTL_SECONDS,
    )
    return ceremony_id


def sign_in_take(*, challenge: bytes, ceremony_id: str | None = None) -> SignInState | None:
    """Claim the sign-in state of ``challenge`` once. A ``ceremony_id``, when the client sent
    one, must be the one handed out with that challenge (the state is used up either way)."""
    if len(challenge) != CHALLENGE_BYTES:
        return None
    data = shared_state.take_once(_sign_in_key(challenge))
    if not isinstance(data, dict) or not isinstance(data.get("challenge"), str):
        return None
    if not hmac.compare_digest(data["challenge"], challenge.hex()):
        return None
    if ceremony_id is not None and not hmac.compare_digest(
        str(data.get("cid") or ""), _digest(ceremony_id[:200])
    ):
        return None
    return SignInState(
        challenge=challenge,
        identified=bool(data["identified"]),
        user_id=data["uid"],
    )
