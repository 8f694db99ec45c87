"""Server-side ceremony state in Django's cache: 5 minutes, single use.

Registration state is bound to the user (and the session that asked for it); sign-in state to
a random ceremony id handed to the client, of which only a hash is used as the cache key.
Single use does not rely on get-then-delete alone (two concurrent readers could both get):
the first reader to ``cache.add`` the "used" marker of a challenge wins, every other loses.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from accounts.passkeys.ceremony import CHALLENGE_BYTES
from mana_auth.errors import ServiceUnavailable, is_infrastructure_error

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


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _call(method: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise


def challenge_new() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def _claim(key: str) -> dict[str, Any] | None:
    """Read the state at ``key`` exactly once across all workers."""
    data = _call("get", key)
    if not isinstance(data, dict) or not isinstance(data.get("challenge"), str):
        return None
    marker = f"passkey:used:{_digest(data['challenge'])}"
    if not _call("add", marker, 1, timeout=CHALLENGE_TTL_SECONDS + 5):
        return None
    _call("delete", key)
    return data


def registration_store(*, user_id: object, session_id: object, challenge: bytes) -> None:
    _call(
        "set",
        f"passkey:reg:{user_id}",
        {"challenge": challenge.hex(), "sid": str(session_id)},
        timeout=CHALLENGE_TTL_SECONDS,
    )


def registration_take(*, user_id: object) -> RegistrationState | None:
    data = _claim(f"passkey:reg:{user_id}")
    if data is None:
        return None
    return RegistrationState(challenge=bytes.fromhex(data["challenge"]), session_id=data["sid"])


def sign_in_store(*, challenge: bytes, identified: bool, user_id: object | None) -> str:
    """Keep the sign-in state; returns the ceremony id the client must send back."""
    ceremony_id = secrets.token_urlsafe(32)
    _call(
        "set",
        f"passkey:auth:{_digest(ceremony_id)}",
        {
            "challenge": challenge.hex(),
            "identified": identified,
            "uid": str(user_id) if user_id else None,
        },
        timeout=CHALLENGE_TTL_SECONDS,
    )
    return ceremony_id


def sign_in_take(*, ceremony_id: str) -> SignInState | None:
    if not ceremony_id or len(ceremony_id) > 200:
        return None
    data = _claim(f"passkey:auth:{_digest(ceremony_id)}")
    if data is None:
        return None
    return SignInState(
        challenge=bytes.fromhex(data["challenge"]),
        identified=bool(data["identified"]),
        user_id=data["uid"],
    )
