"""Reads for accounts: token verification, live sessions, a user's own objects, the accounts as
operators see them (``/admin/users``), and what became of a mailed link (the pages)."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import crypto, signing_keys
from accounts.emails import email_key
from accounts.exceptions import SessionRevoked, TokenExpired, TokenInvalid
from accounts.models import (
    OneTimeToken,
    Passkey,
    Session,
    TokenPurpose,
    User,
    session_idle_ttl,
)
from mana_auth.lookups import scoped_get
from security import lockout, shared_state
from security.exceptions import StoreUnavailable
from security.otp.models import SealedTotpDevice

logger = logging.getLogger("mana_auth.accounts")


# Verified tokens, memoised per worker: a token's signature never changes, and apps present
# the same token on every request of its 15 minutes. Not shared state — a pure memo: expiry is
# re-checked on every hit, and a hit counts only while its key is still published.
_VERIFIED_MAX = 4096
_verified: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
_verified_lock = threading.Lock()


def _verified_get(token: str) -> tuple[str, dict[str, Any]] | None:
    with _verified_lock:
        hit = _verified.get(token)
        if hit is not None:
            _verified.move_to_end(token)
        return hit


def _verified_put(token: str, kid: str, claims: dict[str, Any]) -> None:
    with _verified_lock:
        _verified[token] = (kid, claims)
        if len(_verified) > _VERIFIED_MAX:
            _verified.popitem(last=False)


def verified_tokens_forget() -> None:
    with _verified_lock:
        _verified.clear()


def access_token_claims(token: str) -> dict[str, Any]:
    """Verify an access token (EdDSA, known ``kid``, ``iss``, ``aud``, ``exp``)."""
    now = timezone.now()
    hit = _verified_get(token) if isinstance(token, str) else None
    if hit is not None and signing_keys.public_key_for(hit[0]) is not None:
        kid, claims = hit
        if claims["exp"] + 5 <= int(now.timestamp()):
            raise TokenExpired()
        return dict(claims)
    try:
        parsed = crypto.parse_compact(token)
        kid = crypto.header_kid(parsed)
        public_key = signing_keys.public_key_for(kid)
        if public_key is None:
            raise crypto.TokenInvalid("unknown kid")
        claims = crypto.verify_compact(
            parsed,
            public_key=public_key,
            issuer=settings.JWT_ISSUER,
            audience=settings.JWT_AUDIENCE,
            now=now,
        )
    except crypto.TokenExpired as exc:
        raise TokenExpired() from exc
    except crypto.TokenInvalid as exc:
        raise TokenInvalid() from exc
    _verified_put(token, kid, claims)
    return dict(claims)


def _session_id(raw: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise TokenInvalid() from exc


_SESSION_FIELDS = [field.attname for field in Session._meta.concrete_fields]
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
# Precompiled: the ORM spent longer building this join than PostgreSQL spent answering it.
# Column names come from the models, never from input.
SESSION_USER_SELECT = (
    "SELECT "  # noqa: S608
    + ", ".join(f's."{f.column}"' for f in Session._meta.concrete_fields)
    + ", "
    + ", ".join(f'u."{f.column}"' for f in User._meta.concrete_fields)
    + " FROM accounts_session s JOIN accounts_user u ON u.id = s.user_id"
)


def session_user_fetch(sql: str, params: list[Any]) -> Session | None:
    """Run a statement ending in ``SESSION_USER_SELECT … WHERE …``; build session and user."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_SESSION_FIELDS)
    session = Session.from_db("default", _SESSION_FIELDS, row[:split])
    session.user = User.from_db("default", _USER_FIELDS, row[split:])
    return session


def _session_with_user(column: str, value: object) -> Session | None:
    """One indexed query: the session (by id or cookie hash) and its user."""
    return session_user_fetch(f"{SESSION_USER_SELECT} WHERE s.{column} = %s", [value])


def live_session_for_claims(claims: dict[str, Any]) -> Session:
    """The token's session with its user, in one indexed query; revoked → SESSION_REVOKED."""
    sid = _session_id(claims.get("sid"))
    session = _session_with_user("id", sid)
    if session is None or str(session.user_id) != claims.get("sub"):
        raise SessionRevoked()
    if not session.is_live() or not session.user.is_active:  # revoked, expired or idle
        raise SessionRevoked()
    return session


def _session_cache_key(session_id: object) -> str:
    return f"sess-live:{session_id}"


def _session_revoked_key(session_id: object) -> str:
    return f"sess-revoked:{session_id}"


def session_is_live(claims: dict[str, Any]) -> bool:
    """Whether the token's session is live: with Redis, a cache hit, else one indexed query.

    With Redis, the cache holds "live until" for the session id, and revocation leaves a
    "revoked" marker that outlives any "live" entry (see ``session_cache_forget``): both are
    read in one round trip, so a reader that filled "live" just before a revocation committed
    cannot make a revoked session look live. When Redis is unreachable the database answers.
    Without Redis there is no cache: a cache in the same PostgreSQL would cost what the session
    query costs, and the query sees every revocation the moment it commits, on every worker.
    """
    keys = session_cache_keys(claims)
    sid = str(_session_id(claims.get("sid")))
    cached: bool | None = None
    caching = session_cache_enabled()
    if caching:
        try:
            cached = session_live_cached(shared_state.get_many(keys), claims)
        except StoreUnavailable as exc:
            logger.warning(
                "session cache unavailable (%s); using the database", type(exc.__cause__).__name__
            )
            caching = False
    if cached is not None:
        return cached
    live_until = _session_live_until(sid, claims.get("sub"))
    if live_until is None or live_until <= timezone.now():
        return False
    if caching:
        session_live_remember(claims, live_until)
    return True


def session_cache_enabled() -> bool:
    """The liveness cache exists only in Redis (see ``session_is_live``)."""
    return bool(settings.SESSION_CACHE_SECONDS) and shared_state.uses_redis()


def session_cache_keys(claims: dict[str, Any]) -> list[str]:
    """The "live" and "revoked" cache keys of the token's session; a malformed sid is
    TOKEN_INVALID. Read both in one round trip (``shared_state.get_many``), with any other key
    the caller needs."""
    sid = str(_session_id(claims.get("sid")))
    return [_session_cache_key(sid), _session_revoked_key(sid)]


def session_live_cached(found: dict[str, Any], claims: dict[str, Any]) -> bool | None:
    """What the cache entries read for ``session_cache_keys`` say: False when revoked, True
    when "live until" is for this user and still ahead, None when the database must answer."""
    live_key, revoked_key = session_cache_keys(claims)
    if revoked_key in found:
        return False
    cached = found.get(live_key)
    if isinstance(cached, list) and len(cached) == 2:
        user_id, expires_ts = cached
        return user_id == claims.get("sub") and expires_ts > timezone.now().timestamp()
    return None


def session_live_remember(claims: dict[str, Any], live_until: datetime) -> None:
    """Cache "live until" (``Session.live_until``: absolute expiry or idle limit, whichever
    comes first) after the database said so (never fails the request)."""
    try:
        shared_state.put(
            session_cache_keys(claims)[0],
            [claims["sub"], live_until.timestamp()],
            ttl=settings.SESSION_CACHE_SECONDS,
        )
    except StoreUnavailable as exc:
        logger.warning("session cache unavailable (%s)", type(exc.__cause__).__name__)


# Only what liveness needs, without building a session and a user: the same conditions as
# ``live_session_for_claims`` (not revoked, the token's user, an active account) and the same
# "live until" as ``Session.live_until`` (the earlier of the absolute expiry and last use +
# the idle limit, which is the parameter), compared by the caller against the service's clock.
LIVE_UNTIL_SQL = (
    "SELECT LEAST(s.expires_at, s.last_used_at + %s)"
    " FROM accounts_session s JOIN accounts_user u ON u.id = s.user_id"
    " WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL AND u.is_active"
)


def _session_live_until(sid: str, sub: object) -> datetime | None:
    """When the session ``sid`` of user ``sub`` stops being live (``Session.live_until``);
    None when it is not live at all (revoked, another user's, an inactive account)."""
    try:
        user_id = uuid.UUID(str(sub))
    except ValueError:
        return None
    with connection.cursor() as cursor:
        cursor.execute(LIVE_UNTIL_SQL, [session_idle_ttl(), sid, user_id])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def session_cache_forget(session_ids: list[Any]) -> None:
    """Mark revoked sessions in the Redis cache, now and again after commit. The marker lives
    longer than any "live" entry, so a concurrent reader's late write cannot resurrect a
    session. Without Redis there is no cache to correct."""
    if not session_ids or not settings.SESSION_CACHE_SECONDS or not shared_state.uses_redis():
        return
    ttl = settings.SESSION_CACHE_SECONDS * 2 + 5
    markers = {_session_revoked_key(sid): 1 for sid in session_ids}
    live_keys = [_session_cache_key(sid) for sid in session_ids]

    def apply() -> None:
        shared_state.put_many(markers, ttl=ttl)
        shared_state.delete_many(live_keys)

    apply()
    transaction.on_commit(apply)


def live_session_for_cookie(raw: str, *, now: datetime | None = None) -> Session:
    """The SSO cookie's session with its user, held to the same revocation, absolute expiry
    and idle limit as a bearer token's (``Session.is_live``); else SESSION_REVOKED."""
    session = _session_with_user("cookie_hash", crypto.hash_token(raw))
    if session is None or not session.is_live(now) or not session.user.is_active:
        raise SessionRevoked()
    return session


def session_get_for_user(*, user: User, session_id: object) -> Session:
    return scoped_get(Session.objects.filter(user=user), session_id)


def sessions_live_for_user(*, user: User) -> list[Session]:
    return list(Session.objects.filter(user=user).live(timezone.now()).order_by("-last_used_at"))


def passkey_get_for_user(*, user: User, passkey_id: object) -> Passkey:
    return scoped_get(Passkey.objects.filter(user=user), passkey_id)


# --- Users ------------------------------------------------------------------------------------


def users_search(*, search: str = "") -> QuerySet[User]:
    """Every account, newest first; ``search`` matches part of the email or the name, or an id."""
    users = User.objects.all().order_by("-created_at", "id")
    term = search.strip()
    if term:
        # Any spelling of an address finds its account (full-width, other case, IDN).
        condition = (
            Q(email__icontains=term) | Q(name__icontains=term) | Q(email_key=email_key(term))
        )
        with contextlib.suppress(ValueError):  # not an id: match email and name only
            condition |= Q(pk=uuid.UUID(term))
        users = users.filter(condition)
    return users


def user_get_any(*, user_id: object) -> User:
    """Any account by id, for operators; a malformed or unknown id is NOT_FOUND."""
    return scoped_get(User.objects.all(), user_id, message="No such user.")


def user_admin_facts(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """What an operator wants next to the profile: lock, live sessions, second factors."""
    current = now or timezone.now()
    return {
        "lockedForSeconds": lockout.remaining_lock_seconds(
            lockout.scope_for(email_key(user.email), None), now=current
        ),
        "activeSessions": Session.objects.filter(user=user).live(current).count(),
        "totpEnabled": SealedTotpDevice.objects.filter(user=user, confirmed=True).exists(),
        "passkeys": user.passkeys.count(),
        "isActive": user.is_active,
        "lastLoginAt": user.last_login,
        "updatedAt": user.updated_at,
    }


# --- Mailed links ----------------------------------------------------------------------------


class LinkState(NamedTuple):
    """What became of a mailed link: ``live``, ``used``, ``expired`` or ``unknown``, and the
    locale of its account (the page explaining it speaks it)."""

    state: str
    locale: str | None = None
    # A live link of a never-verified account: spending it is an address claim (``address_claim``
    # deletes the account's Spaces, sync data and vault), which the page says before the click.
    claims: bool = False


def one_time_token_state(*, token: object, purposes: tuple[str, ...]) -> LinkState:
    """Look a mailed link's token up without using it (one query by primary key). Whoever
    holds the link learns only what became of it; a guess names no account."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return LinkState("unknown")
    row = (
        OneTimeToken.objects.filter(token_hash=crypto.hash_token(token), purpose__in=purposes)
        .values_list(
            "used_at", "expires_at", "user__locale", "user__is_active", "user__email_verified_at"
        )
        .first()
    )
    if row is None or not row[3]:
        return LinkState("unknown")
    used_at, expires_at, locale, _, verified_at = row
    if used_at is not None:
        return LinkState("used", locale)
    if expires_at <= timezone.now():
        return LinkState("expired", locale)
    return LinkState("live", locale, claims=verified_at is None)


def change_email_link_live(*, token: object) -> bool:
    """Whether ``token`` is a live change-of-address link (which only a POST may spend)."""
    return one_time_token_state(token=token, purposes=(TokenPurpose.CHANGE_EMAIL,)).state == "live"


def verification_link_state(*, token: object) -> str:
    """``one_time_token_state`` of a verify-email link (sign-up or change of address)."""
    return one_time_token_state(
        token=token, purposes=(TokenPurpose.VERIFY_EMAIL, TokenPurpose.CHANGE_EMAIL)
    ).state
