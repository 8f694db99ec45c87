"""What each hot path cannot avoid, served alone: the bound on the ratio any implementation
of the row could reach.

Each view below is ``/health`` (the same middleware stack, the same gunicorn, the same
settings: ``bench.bound_settings`` only adds these URLs to the service's) plus the work the
contract and the rules of this service make unavoidable for that endpoint, done the cheapest
way, with nothing of the endpoint's own code:

- ``validate`` and ``access``: one round trip to the shared state (a Redis GET; revocation and
  liveness must be seen by every worker, issue 14). The JWT signature check is left out
  (memoised per token and worker in the service, so ~0 in the bench).
- ``session``: one fresh read of the session joined with its user (one SELECT by key).
- ``refresh``: one durable write (an INSERT, autocommitted: a WAL flush) and one Ed25519
  signature (the new access token) and a fresh opaque token.
- ``passkey``: the ceremony taken from the shared state (GETDEL), one ES256 check, the
  credential read, one durable write and one Ed25519 signature.
- ``login``: one argon2id check with the service's hasher and settings, the account read and
  one durable write.

Every one is a lower bound on its endpoint's cost (the endpoint does all of it and more), so
its ratio to the row's ceiling (``/health``; for login the argon2 loops) is an upper bound on
the endpoint's: when a bound view cannot reach
its row's floor, no implementation that keeps the rules can. ``bench.bench`` measures them on
a third gunicorn, one slice per row and pass, next to the ceilings.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

from mana_auth.urls import urlpatterns as service_urlpatterns
from security.shared_state import redis_client, redis_key, uses_redis

TABLE = "bench_bound_write"
PASSWORD = "bench-bound-password"

_SIGNING_KEY = Ed25519PrivateKey.generate()
_PASSKEY_KEY = ec.generate_private_key(ec.SECP256R1())
_PASSKEY_DATA = secrets.token_bytes(37 + 32)  # authenticator data + client data hash, in size
_PASSKEY_SIGNATURE = _PASSKEY_KEY.sign(_PASSKEY_DATA, ec.ECDSA(hashes.SHA256()))
_PASSKEY_PUBLIC = _PASSKEY_KEY.public_key()
_TOKEN_CLAIMS = b'{"sub":"00000000-0000-0000-0000-000000000000","sid":"x","exp":0}' * 4

_state: dict[str, Any] = {}
_lock = threading.Lock()


def _prepared() -> dict[str, Any]:
    """Once per worker: a session id to read, the write table, a hash to check."""
    if _state:
        return _state
    with _lock:
        if not _state:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(202612)")
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} "
                    "(id bigserial PRIMARY KEY, token_hash bytea NOT NULL, "
                    "created_at timestamptz NOT NULL DEFAULT now())"
                )
                cursor.execute("SELECT pg_advisory_unlock(202612)")
                cursor.execute("SELECT id FROM accounts_session ORDER BY created_at LIMIT 1")
                row = cursor.fetchone()
            _state["session_id"] = row[0] if row else None
            _state["encoded"] = make_password(PASSWORD)
    return _state


def _shared_read(take: bool = False) -> None:
    """One round trip to the shared state: Redis when configured, else PostgreSQL."""
    if uses_redis():
        client, key = redis_client(), redis_key("bench-bound")
        client.getdel(key) if take else client.get(key)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_session WHERE id = %s", [_prepared()["session_id"]])
        cursor.fetchone()


def _session_read() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id, s.expires_at, s.last_used_at, u.id, u.email, u.is_active "
            "FROM accounts_session s JOIN accounts_user u ON u.id = s.user_id WHERE s.id = %s",
            [_prepared()["session_id"]],
        )
        cursor.fetchone()


def _durable_write() -> str:
    token = secrets.token_urlsafe(32)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (token_hash) VALUES (%s)",  # noqa: S608 - constant name
            [hashlib.sha256(token.encode()).digest()],
        )
    return token


def _sign() -> bytes:
    return _SIGNING_KEY.sign(_TOKEN_CLAIMS)


def validate(request: HttpRequest) -> JsonResponse:
    _shared_read()
    return JsonResponse({"valid": True})


def session(request: HttpRequest) -> JsonResponse:
    _session_read()
    return JsonResponse({"session": True})


def refresh(request: HttpRequest) -> JsonResponse:
    _prepared()
    token = _durable_write()
    return JsonResponse({"accessToken": _sign().hex(), "refreshToken": token})


def passkey(request: HttpRequest) -> JsonResponse:
    _shared_read(take=True)
    _PASSKEY_PUBLIC.verify(_PASSKEY_SIGNATURE, _PASSKEY_DATA, ec.ECDSA(hashes.SHA256()))
    _session_read()
    token = _durable_write()
    return JsonResponse({"accessToken": _sign().hex(), "refreshToken": token})


def login(request: HttpRequest) -> JsonResponse:
    state = _prepared()
    if not check_password(PASSWORD, state["encoded"]):
        raise RuntimeError("the hasher does not verify its own hash")
    _session_read()
    token = _durable_write()
    return JsonResponse({"accessToken": _sign().hex(), "refreshToken": token})


# The same work serves ``access`` as ``validate`` (one shared-state round trip).
BOUND_VIEWS = {
    "validate": validate,
    "access": validate,
    "session": session,
    "refresh": refresh,
    "passkey": passkey,
    "login": login,
}

# First, and under the API prefix: resolved as cheaply as the hot routes, and treated as API
# paths by the middleware (no page-only work such as the messages), as the endpoints are.
PREFIX = "api/v1/bench-bound/"
urlpatterns = [
    *(path(f"{PREFIX}{key}", view) for key, view in BOUND_VIEWS.items()),
    *service_urlpatterns,
]
