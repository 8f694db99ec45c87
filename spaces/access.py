"""``GET /spaces/{id}/access`` on its hot path: the bearer's session and their access in one
statement, and (with Redis) a cache that every change of what the answer depends on orphans.

The answer depends on the membership (its role), the Space (type, tier) and the Space's module
overrides for that role. Each Space has a *version* in the shared state, a random token: a
change to any of those replaces it, once in the writing transaction and again after it commits
(``space_access_changed``). A reader reads the version together with its cached entry and the
session's liveness markers in one round trip, and trusts an entry only when it was computed
under the version that is current now. Because the reader reads the version *before* it asks
PostgreSQL, an entry built from a snapshot older than a commit carries a version that the
post-commit replacement has already retired: a late write cannot make stale access current.
A missing version (evicted, or never set) is created, never assumed.

Without Redis there is no cache: one statement answers, and sees every change once committed,
on every worker (a cache in the same PostgreSQL would cost what the answer costs).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.exceptions import SessionRevoked
from accounts.models import session_idle_ttl
from mana_auth.errors import NotFound
from mana_auth.logging import user_id_note
from mana_auth.lookups import parse_uuid
from security import shared_state
from security.exceptions import StoreUnavailable
from spaces.selectors import module_levels_for, module_tier_require

logger = logging.getLogger("mana_auth.spaces")

# A version outlives every entry by far; when it is gone anyway, a new one is made.
_VERSION_TTL = 7 * 24 * 3600

# The session's liveness (accounts' own conditions and "live until", idle limit included) and
# the membership, the Space and its
# overrides for that role, in one statement. Table names are constants, never input.
_ACCESS_SQL = (
    "SELECT (" + account_selectors.LIVE_UNTIL_SQL + "), m.role, sp.type, sp.tier,"  # noqa: S608
    " ARRAY(SELECT mp.module || '=' || mp.level FROM spaces_module_permission mp"
    " WHERE mp.space_id = m.space_id AND mp.role = m.role)"
    " FROM (SELECT 1) AS one"
    " LEFT JOIN spaces_membership m ON m.space_id = %s AND m.user_id = %s"
    " LEFT JOIN spaces_space sp ON sp.id = m.space_id"
)


def _version_key(space_id: object) -> str:
    return f"space-access-ver:{space_id}"


def _entry_key(space_id: object, user_id: object) -> str:
    return f"space-access:{space_id}:{user_id}"


def _cache_enabled() -> bool:
    return bool(settings.SPACE_ACCESS_CACHE_SECONDS) and shared_state.uses_redis()


def space_access_for_token(
    *, claims: dict[str, Any], space_id: object, module_id: str | None = None
) -> dict[str, Any]:
    """The bearer's role, the Space's type and tier and every module's level.

    SESSION_REVOKED when the token's session is not live (checked first, as authentication
    is); NOT_FOUND for a Space the bearer is not a member of (or a malformed id); with
    ``module_id``, TIER_INSUFFICIENT when the Space's tier does not open that module. The gate
    is applied to every answer, cached or not: the cache holds the access, never a verdict
    (the type and tier it is decided from are in the entry, under the Space's version, which a
    tier change replaces).
    """
    session_keys = account_selectors.session_cache_keys(claims)  # a malformed sid: 401
    sid = parse_uuid(claims.get("sid"))
    user_id = parse_uuid(claims.get("sub"))
    space = parse_uuid(space_id)
    caching = _cache_enabled() and space is not None and user_id is not None
    live: bool | None = None
    version: str | None = None
    if caching:
        keys = [*session_keys, _version_key(space), _entry_key(space, user_id)]
        try:
            found = shared_state.get_many(keys)
        except StoreUnavailable as exc:
            logger.warning("access cache unavailable (%s)", type(exc.__cause__).__name__)
            caching, found = False, {}
        live = account_selectors.session_live_cached(found, claims)
        if live is False:
            raise SessionRevoked()
        version = found.get(keys[2])
        entry = found.get(keys[3])
        if live and version and isinstance(entry, list) and entry[0] == version:
            user_id_note(user_id)
            access = entry[1]
            module_tier_require(
                space_type=access["type"], space_tier=access["tier"], module_id=module_id
            )
            return access
    live_until, role, space_type, tier, pairs = _fetch(sid, user_id, space)
    if live_until is None or live_until <= timezone.now():
        raise SessionRevoked()
    user_id_note(user_id)
    if role is None:
        raise NotFound("No such Space.")
    access = {
        "spaceId": str(space),
        "type": space_type,
        "role": role,
        "tier": tier,
        "modules": module_levels_for(
            space_type=space_type,
            space_tier=tier,
            role=role,
            overrides=tuple(sorted(tuple(pair.split("=", 1)) for pair in pairs)),
        ),
    }
    if caching:
        _remember(claims, live, live_until, space, user_id, version, access)
    module_tier_require(space_type=space_type, space_tier=tier, module_id=module_id)
    return access


def _fetch(sid: Any, user_id: Any, space: Any) -> tuple[Any, ...]:
    if sid is None or user_id is None:
        return (None, None, None, None, [])
    with connection.cursor() as cursor:
        cursor.execute(_ACCESS_SQL, [session_idle_ttl(), sid, user_id, space, user_id])
        row = cursor.fetchone()
    return tuple(row)


def _remember(
    claims: dict[str, Any],
    live: bool | None,
    live_until: Any,
    space: Any,
    user_id: Any,
    version: str | None,
    access: dict[str, Any],
) -> None:
    """Fill the cache after the database answered; never fails the request."""
    if live is None:
        account_selectors.session_live_remember(claims, live_until)
    try:
        if version:
            shared_state.put(
                _entry_key(space, user_id),
                [version, access],
                ttl=settings.SPACE_ACCESS_CACHE_SECONDS,
            )
        else:  # the next reader caches, under a version that exists before it reads
            shared_state.put_if_absent(_version_key(space), secrets.token_hex(8), ttl=_VERSION_TTL)
    except StoreUnavailable as exc:
        logger.warning("access cache unavailable (%s)", type(exc.__cause__).__name__)


def space_access_changed(space_id: object) -> None:
    """Retire every cached access answer of the Space: now, and again once the writing
    transaction commits (a reader between the two may cache what it read before the commit,
    under the first replacement, which the second retires). Redis unreachable before the
    commit: StoreUnavailable (503), the change rolls back. Without Redis: nothing to do."""
    if not _cache_enabled():
        return
    key = _version_key(space_id)

    def replace() -> None:
        shared_state.put(key, secrets.token_hex(8), ttl=_VERSION_TTL)

    def replace_after_commit() -> None:
        try:
            replace()
        except StoreUnavailable as exc:
            # Committed already; entries expire on their own (SPACE_ACCESS_CACHE_SECONDS).
            logger.warning("access cache unavailable (%s)", type(exc.__cause__).__name__)

    replace()  # fails closed: a change whose old answers cannot be retired does not happen
    transaction.on_commit(replace_after_commit)
