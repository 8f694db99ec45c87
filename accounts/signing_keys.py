"""JWT signing keys: stored in the database, private halves wrapped with the KEK.

Each worker keeps a short-lived memo of the keys (a read-through copy of database rows, not
state another worker needs): verification of an unknown ``kid`` reloads at once, so a key
rotated by another process is picked up on first sight.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.crypto import make_kid, public_jwk
from accounts.models import SigningKey, SigningKeyStatus
from mana_auth.kek.crypto import associated_data
from mana_auth.kek.keyring import active_keyring, open_sealed, seal

_MEMO_SECONDS = 30.0
_lock = threading.Lock()


@dataclass
class _Memo:
    loaded_at: float = 0.0
    public: dict[str, Ed25519PublicKey] | None = None
    active_kid: str | None = None
    active_private: Ed25519PrivateKey | None = None
    jwks_body: bytes = b""
    jwks_etag: str = ""


_memo = _Memo()


def _aad(kid: str) -> bytes:
    return associated_data("jwt-signing-key", kid)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signing_key_create(*, retire_current: bool) -> SigningKey:
    """Generate a new active Ed25519 key; optionally retire the current one."""
    private = Ed25519PrivateKey.generate()
    public = _raw_public(private.public_key())
    kid = make_kid(public)
    raw_private = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    wrapped = seal(raw_private, aad=_aad(kid))
    now = timezone.now()
    with transaction.atomic():
        current = list(
            SigningKey.objects.select_for_update().filter(status=SigningKeyStatus.ACTIVE)
        )
        if current and not retire_current:
            return current[0]
        for key in current:
            key.status = SigningKeyStatus.RETIRED
            key.retired_at = now
            key.save(update_fields=["status", "retired_at"])
        created = SigningKey.objects.create(
            kid=kid,
            public_key=public,
            private_wrapped=wrapped.ciphertext,
            private_iv=wrapped.iv,
            kek_id=wrapped.kek_id,
            status=SigningKeyStatus.ACTIVE,
            created_at=now,
        )
    invalidate_memo()
    return created


def signing_key_rotate() -> SigningKey:
    return signing_key_create(retire_current=True)


def signing_key_rewrap(key: SigningKey) -> bool:
    """Re-wrap one key's private half under the active KEK; False when it already is."""
    if key.kek_id == active_keyring().active_id:
        return False
    raw = open_sealed(
        ciphertext=bytes(key.private_wrapped),
        iv=bytes(key.private_iv),
        kek_id=key.kek_id,
        aad=_aad(key.kid),
    )
    wrapped = seal(raw, aad=_aad(key.kid))
    SigningKey.objects.filter(kid=key.kid).update(
        private_wrapped=wrapped.ciphertext, private_iv=wrapped.iv, kek_id=wrapped.kek_id
    )
    return True


def signing_keys_rewrap(batch_size: int) -> tuple[int, int]:
    """Re-wrap the private halves of the JWT signing keys under the active KEK; returns
    ``(re-wrapped, total)``. Registered as ``jwt_signing_keys`` with ``manage.py rewrap_vaults``
    (``mana_auth.kek.rewrap``); one transaction per batch, so a rerun only does what is left."""
    kids = list(SigningKey.objects.order_by("kid").values_list("kid", flat=True))
    rewrapped = 0
    for start in range(0, len(kids), batch_size):
        with transaction.atomic():
            batch = SigningKey.objects.select_for_update().filter(
                kid__in=kids[start : start + batch_size]
            )
            rewrapped += sum(signing_key_rewrap(key) for key in batch)
    invalidate_memo()
    return rewrapped, len(kids)


def published_keys_queryset(now: datetime | None = None):  # type: ignore[no-untyped-def]
    """Every key that may still verify a live token: active, or retired less than a TTL ago."""
    current = now or timezone.now()
    cutoff = current - timedelta(seconds=settings.JWT_ACCESS_TTL_SECONDS + 60)
    return SigningKey.objects.filter(status=SigningKeyStatus.ACTIVE) | SigningKey.objects.filter(
        status=SigningKeyStatus.RETIRED, retired_at__gt=cutoff
    )


def _load() -> None:
    rows = list(published_keys_queryset().order_by("-created_at"))
    if not any(row.status == SigningKeyStatus.ACTIVE for row in rows):
        # Another worker may create it first; the reload below then reads theirs.
        with contextlib.suppress(IntegrityError):
            signing_key_create(retire_current=False)
        rows = list(published_keys_queryset().order_by("-created_at"))
    public = {row.kid: Ed25519PublicKey.from_public_bytes(bytes(row.public_key)) for row in rows}
    active = next(row for row in rows if row.status == SigningKeyStatus.ACTIVE)
    raw_private = open_sealed(
        ciphertext=bytes(active.private_wrapped),
        iv=bytes(active.private_iv),
        kek_id=active.kek_id,
        aad=_aad(active.kid),
    )
    body = json.dumps(
        {"keys": [public_jwk(bytes(row.public_key), row.kid) for row in rows]},
        separators=(",", ":"),
    ).encode()
    _memo.public = public
    _memo.active_kid = active.kid
    _memo.active_private = Ed25519PrivateKey.from_private_bytes(raw_private)
    _memo.jwks_body = body
    _memo.jwks_etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    _memo.loaded_at = time.monotonic()


def _ensure_loaded(force: bool = False) -> None:
    if force or _memo.public is None or time.monotonic() - _memo.loaded_at > _MEMO_SECONDS:
        with _lock:
            if force or _memo.public is None or time.monotonic() - _memo.loaded_at > _MEMO_SECONDS:
                _load()


def invalidate_memo() -> None:
    _memo.loaded_at = 0.0
    _memo.public = None


def active_signing_key() -> tuple[str, Ed25519PrivateKey]:
    _ensure_loaded()
    assert _memo.active_kid is not None and _memo.active_private is not None
    return _memo.active_kid, _memo.active_private


def public_key_for(kid: str) -> Ed25519PublicKey | None:
    """The verifying key for ``kid``; reload once when it is not known yet."""
    _ensure_loaded()
    assert _memo.public is not None
    key = _memo.public.get(kid)
    if key is None and time.monotonic() - _memo.loaded_at > 1.0:
        _ensure_loaded(force=True)
        key = _memo.public.get(kid)
    return key


def jwks_document() -> tuple[bytes, str]:
    _ensure_loaded()
    return _memo.jwks_body, _memo.jwks_etag
