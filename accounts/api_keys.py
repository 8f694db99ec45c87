"""API keys: creation, listing, revocation, validation, and the DRF authentication class.

A key is ``sk_live_`` + a public id + ``_`` + 32 random bytes (url-safe). The visible prefix
(``sk_live_<public id>``) finds the row; the SHA-256 of the whole key is compared in constant
time. Unknown, expired and revoked keys all answer ``valid: false`` after the same work.

Keys imported from the predecessor (Better Auth's api-key plugin, ``mana_…``) keep working
unchanged: Better Auth stores the unpadded base64url SHA-256 of the whole key, and such a key
carries no public id, so that hash is the (unique, indexed) lookup; it is compared in
constant time like the others. Any key that is not ``sk_live_…`` takes that path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.exceptions import TokenInvalid
from accounts.models import ApiKey, ApiKeyHashFormat, Session, User
from accounts.reauth import reauth_require
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Forbidden, ValidationFailed
from mana_auth.logging import user_id_note
from mana_auth.lookups import scoped_get
from security import ratelimit
from security.models import EventType
from security.services import security_event_record

KEY_PREFIX = "sk_live_"
# The predecessor's keys (Better Auth api-key plugin, imported by ``import_predecessor``).
LEGACY_KEY_PREFIXES = ("mana_",)
MAX_KEY_LENGTH = 200
# The closed set of scopes (README "API keys"). Endpoints declare the one they accept.
SCOPES: dict[str, str] = {
    "profile:read": "Read the account's profile.",
    "spaces:read": "List the account's Spaces and their access.",
    "sync:read": "Read the account's synced data in other Mana services.",
    "sync:write": "Write the account's synced data in other Mana services.",
    "credits:read": "Read the account's credit balance in other Mana services.",
}
MAX_KEYS_PER_USER = 50
_LAST_USED_RESOLUTION = timedelta(minutes=1)
_DUMMY_HASH = hashlib.sha256(b"mana-auth:no-such-key").hexdigest()


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def better_auth_key_hash(key: str) -> str:
    """Better Auth's ``defaultKeyHasher``: unpadded base64url of SHA-256 of the whole key."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


_DUMMY_LEGACY_HASH = better_auth_key_hash("mana-auth:no-such-key")


def looks_like_api_key(token: str) -> bool:
    """Whether a bearer value is meant as an API key (never a JWT: those start ``eyJ``)."""
    return token.startswith(KEY_PREFIX) or token.startswith(LEGACY_KEY_PREFIXES)


def _split(key: str) -> str | None:
    """The visible prefix of a well-formed key, else None."""
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
        return None
    public_id, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or len(public_id) != 12 or len(secret) < 43:
        return None
    return KEY_PREFIX + public_id


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    key: str


def api_key_create(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    meta: RequestMeta,
    session: Session | None,
    password: str | None,
) -> CreatedKey:
    """Create a key for ``user`` (re-authentication required); the key is returned once."""
    reauth_require(user=user, session=session, password=password)
    return _api_key_create(user=user, name=name, scopes=scopes, expires_at=expires_at, meta=meta)


@transaction.atomic
def _api_key_create(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None, meta: RequestMeta
) -> CreatedKey:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed({"scopes": [f"Unknown or missing scopes: {unknown or 'none'}"]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed({"expiresAt": ["The expiry must be in the future."]})
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_KEYS_PER_USER:
        raise ValidationFailed({"name": [f"At most {MAX_KEYS_PER_USER} active keys."]})
    public_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        user=user,
        name=name.strip(),
        prefix=KEY_PREFIX + public_id,
        key_hash=_hash(key),
        hash_format=ApiKeyHashFormat.SHA256_HEX,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    security_event_record(
        type=EventType.API_KEY_CREATED,
        user=user,
        meta=meta,
        metadata={"apiKeyId": str(api_key.id), "prefix": api_key.prefix, "scopes": api_key.scopes},
    )
    return CreatedKey(api_key=api_key, key=key)


def api_keys_for_user(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def api_key_get_for_user(*, user: User, key_id: object) -> ApiKey:
    return scoped_get(ApiKey.objects.filter(user=user), key_id)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, meta: RequestMeta, actor: User | None = None) -> None:
    if api_key.revoked_at is None:
        ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
        security_event_record(
            type=EventType.API_KEY_REVOKED,
            user=api_key.user,
            meta=meta,
            metadata={"apiKeyId": str(api_key.id), "byAdmin": actor is not None},
        )


@dataclass(frozen=True)
class KeyCheck:
    valid: bool
    api_key: ApiKey | None = None


def _lookup(key: object) -> tuple[ApiKey | None, str, str]:
    """``(row, presented hash, stored hash)``: one indexed query for any string key."""
    if isinstance(key, str) and key.startswith(KEY_PREFIX):
        prefix = _split(key)
        row = (
            ApiKey.objects.select_related("user")
            .filter(hash_format=ApiKeyHashFormat.SHA256_HEX, prefix=prefix)
            .first()
            if prefix
            else None
        )
        presented = _hash(key)
        return row, presented, row.key_hash if row is not None else _DUMMY_HASH
    if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH:
        presented = better_auth_key_hash(key)
        row = (
            ApiKey.objects.select_related("user")
            .filter(hash_format=ApiKeyHashFormat.BETTER_AUTH, key_hash=presented)
            .first()
        )
        return row, presented, row.key_hash if row is not None else _DUMMY_LEGACY_HASH
    return None, _DUMMY_HASH, _DUMMY_LEGACY_HASH


def api_key_check(key: str, *, now: datetime | None = None) -> KeyCheck:
    """Look a key up (by prefix, or by hash for an imported key) and compare its hash in
    constant time.

    Unknown, malformed, expired and revoked keys do the same work and say only "not valid".
    """
    current = now or timezone.now()
    row, presented, stored = _lookup(key)
    matches = hmac.compare_digest(presented.encode(), stored.encode())
    if row is None or not matches or not row.is_usable(current) or not row.user.is_active:
        return KeyCheck(valid=False)
    if row.last_used_at is None or row.last_used_at + _LAST_USED_RESOLUTION < current:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=current)
    return KeyCheck(valid=True, api_key=row)


def api_key_validate(*, key: str, meta: RequestMeta) -> KeyCheck:
    """Other services ask whether a key is valid (rate-limited per IP): ``api_key_check``."""
    ratelimit.hit(ratelimit.API_KEY_VALIDATE_IP, meta.ip)
    return api_key_check(key)


@dataclass(frozen=True)
class ApiKeyContext:
    api_key: ApiKey

    @property
    def scopes(self) -> list[str]:
        return list(self.api_key.scopes)


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk_live_…`` (or an imported ``mana_…`` key) on endpoints that
    declare ``api_key_scope``."""

    def authenticate(self, request: Request) -> tuple[User, ApiKeyContext] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not looks_like_api_key(token):
            return None
        check = api_key_check(token)
        if not check.valid or check.api_key is None:
            raise TokenInvalid()
        user_id_note(check.api_key.user_id)
        return check.api_key.user, ApiKeyContext(api_key=check.api_key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mana"'


class ApiKeyScopePermission(BasePermission):
    """API-key callers need the view's ``api_key_scope``; token callers pass through."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if isinstance(request.auth, ApiKeyContext):
            required = getattr(view, "api_key_scope", None)
            if not required or required not in request.auth.scopes:
                raise Forbidden(message="The API key lacks the required scope.")
        return True
