"""State that every worker must see the same: rate counters, cooldowns, single-use passkey
ceremony state, and (with Redis) the ``validate`` liveness cache.

One API, two stores, chosen by ``REDIS_URL``:

- **Redis** (``REDIS_URL`` set): ``SET NX EX`` + ``INCR`` in one MULTI for counters, ``SET EX``,
  ``GET``/``MGET``, and ``GETDEL`` for single use.
- **PostgreSQL** (no ``REDIS_URL``): two ordinary (logged) tables, ``security_shared_counter``
  and ``security_shared_entry``. A counter is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
  (never read-then-write, so concurrent requests cannot undercount); single use is one
  conditional ``DELETE … RETURNING`` (of two concurrent takers exactly one gets the row).
  Logged rather than UNLOGGED: a crash or a failover to a standby must not wipe cooldowns and
  counters (an UNLOGGED table is truncated after a crash and is empty on a replica).

Expired rows are purged without a cron job: each write also deletes up to ``_PURGE_BATCH``
expired rows of its table in the same statement (a data-modifying CTE), so the tables stay
bounded and a request's statement count stays fixed. ``manage.py purge_shared_state`` does a
full sweep (optional; useful after a quiet period or before a backup).

PostgreSQL writes join the caller's transaction: call these outside ``transaction.atomic``
blocks that may roll back, or a rollback undoes the count (Redis would keep it). A counter that
must outlive the refusal it leads to (wrong passwords on re-authentication) is counted with
``durable=True``: inside a transaction it is written on a connection of its own, in autocommit,
so the rollback of the request's transaction cannot take it back. Keys are
hashed (SHA-256) before they reach either store, so no address or IP is stored in the clear.

Every store failure is ``StoreUnavailable`` (503): the guarded endpoints fail closed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from mana_auth.errors import is_infrastructure_error
from security.exceptions import StoreUnavailable

T = TypeVar("T")

COUNTER_TABLE = "security_shared_counter"
ENTRY_TABLE = "security_shared_entry"
_PURGE_BATCH = 8


def uses_redis() -> bool:
    """Whether the shared state lives in Redis (else in PostgreSQL)."""
    return bool(settings.REDIS_URL)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _guard(action: Callable[[], T]) -> T:
    try:
        return action()
    except StoreUnavailable:
        raise
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise StoreUnavailable() from exc
        raise


# --- Redis ------------------------------------------------------------------------------------

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def redis_client() -> Any:
    """One client (and connection pool) per URL and process; redis-py reconnects after fork."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
                )
                _clients[url] = client
    return client


def redis_key(key: str) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:ss:{_digest(key)}"


def _loads(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


def _redis_counter_incr(key: str, ttl: int) -> int:
    name = redis_key(key)
    pipe = redis_client().pipeline(transaction=True)
    pipe.set(name, 0, ex=ttl, nx=True)
    pipe.incr(name)
    return int(pipe.execute()[1])


# --- PostgreSQL -------------------------------------------------------------------------------

# Table names and the batch size are constants of this module, never input.
_PURGE = (
    "WITH purged AS (DELETE FROM {table} WHERE key IN ("  # noqa: S608
    "SELECT key FROM {table} WHERE expires_at < %(now)s AND key <> %(key)s "
    f"ORDER BY expires_at LIMIT {_PURGE_BATCH} FOR UPDATE SKIP LOCKED)) "
)
_PG_COUNTER_INCR = _PURGE.format(table=COUNTER_TABLE) + (
    f"INSERT INTO {COUNTER_TABLE} AS c (key, value, expires_at) "  # noqa: S608
    "VALUES (%(key)s, 1, %(expires)s) ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN c.expires_at <= %(now)s THEN 1 ELSE c.value + 1 END, "
    "expires_at = CASE WHEN c.expires_at <= %(now)s THEN EXCLUDED.expires_at "
    "ELSE c.expires_at END "
    "RETURNING value"
)
_PG_PUT = _PURGE.format(table=ENTRY_TABLE) + (
    f"INSERT INTO {ENTRY_TABLE} (key, value, expires_at) "  # noqa: S608
    "VALUES (%(key)s, %(value)s::jsonb, %(expires)s) ON CONFLICT (key) DO UPDATE SET "
    "value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
)


def _expiry(ttl: int) -> tuple[datetime, datetime]:
    now = timezone.now()
    return now, now + timedelta(seconds=ttl)


def _pg_fetchone(sql: str, params: Mapping[str, Any] | list[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _pg_execute(sql: str, params: Mapping[str, Any] | list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- The API ----------------------------------------------------------------------------------


def _pg_fetchone_committed(sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Run ``sql`` on a connection of its own, in autocommit: committed at once, whatever the
    caller's transaction does next. Opened and closed per call (only failure paths use it)."""
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with side.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    finally:
        side.close()


def counter_incr(key: str, *, ttl: int, durable: bool = False) -> int:
    """Add one to the counter at ``key`` and return the new value. A new (or expired) counter
    starts at 1 and lives ``ttl`` seconds from then; later increments do not extend it.

    ``durable``: the count must survive a rollback of the caller's transaction (a refusal that
    raises inside ``transaction.atomic``). Redis never rolls back; in PostgreSQL, inside a
    transaction, the increment is committed on a separate connection."""

    def run() -> int:
        if uses_redis():
            return _redis_counter_incr(key, ttl)
        now, expires = _expiry(ttl)
        params = {"key": _digest(key), "now": now, "expires": expires}
        if durable and connection.in_atomic_block:
            row = _pg_fetchone_committed(_PG_COUNTER_INCR, params)
        else:
            row = _pg_fetchone(_PG_COUNTER_INCR, params)
        assert row is not None
        return int(row[0])

    return _guard(run)


_PG_COUNTER_DECR = (
    f"UPDATE {COUNTER_TABLE} SET value = value - 1 "  # noqa: S608
    "WHERE key = %(key)s AND expires_at > %(now)s AND value > 0 RETURNING value"
)
# Redis: take one off a live counter, never below 0, never creating one (DECR keeps the TTL).
_REDIS_COUNTER_DECR = (
    "local v = redis.call('GET', KEYS[1]) "
    "if v and tonumber(v) > 0 then return redis.call('DECR', KEYS[1]) end "
    "return 0"
)


def counter_decr(key: str, *, durable: bool = False) -> None:
    """Take one off the counter at ``key``: give back a use counted before it ran
    (``ratelimit.reserve``). A counter that expired or does not exist stays as it is.
    ``durable`` as for ``counter_incr``."""

    def run() -> None:
        if uses_redis():
            redis_client().eval(_REDIS_COUNTER_DECR, 1, redis_key(key))
            return
        params = {"key": _digest(key), "now": timezone.now()}
        if durable and connection.in_atomic_block:
            _pg_fetchone_committed(_PG_COUNTER_DECR, params)
        else:
            _pg_fetchone(_PG_COUNTER_DECR, params)

    _guard(run)


def counter_get(key: str) -> int:
    """The counter's value, 0 when it does not exist or has expired."""

    def run() -> int:
        if uses_redis():
            raw = redis_client().get(redis_key(key))
            return int(raw) if raw is not None else 0
        row = _pg_fetchone(
            f"SELECT value FROM {COUNTER_TABLE} WHERE key = %s AND expires_at > %s",  # noqa: S608
            [_digest(key), timezone.now()],
        )
        return int(row[0]) if row else 0

    return _guard(run)


def put(key: str, value: Any, *, ttl: int) -> None:
    """Store a JSON-serialisable ``value`` at ``key`` for ``ttl`` seconds (replacing any)."""
    payload = json.dumps(value, separators=(",", ":"))

    def run() -> None:
        if uses_redis():
            redis_client().set(redis_key(key), payload, ex=ttl)
            return
        now, expires = _expiry(ttl)
        _pg_execute(
            _PG_PUT, {"key": _digest(key), "value": payload, "now": now, "expires": expires}
        )

    _guard(run)


def put_if_absent(key: str, value: Any, *, ttl: int) -> bool:
    """Store ``value`` at ``key`` unless a live value is there; whether it was stored."""
    payload = json.dumps(value, separators=(",", ":"))

    def run() -> bool:
        if uses_redis():
            return bool(redis_client().set(redis_key(key), payload, ex=ttl, nx=True))
        now, expires = _expiry(ttl)
        return bool(
            _pg_execute(
                f"INSERT INTO {ENTRY_TABLE} AS e (key, value, expires_at) "  # noqa: S608
                "VALUES (%(key)s, %(value)s::jsonb, %(expires)s) ON CONFLICT (key) DO UPDATE "
                "SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at "
                "WHERE e.expires_at <= %(now)s",
                {"key": _digest(key), "value": payload, "now": now, "expires": expires},
            )
        )

    return _guard(run)


# The list at key with ``item`` first, without its other occurrences, at most ``keep`` long; an
# expired row (or one that holds no list) counts as empty. One statement: concurrent pushes
# serialise on the row lock and none is lost.
_RECENT_INSERT = f"INSERT INTO {ENTRY_TABLE} AS e (key, value, expires_at) "
_PG_RECENT_PUSH = "".join(
    [
        _PURGE.format(table=ENTRY_TABLE),
        _RECENT_INSERT,
        "VALUES (%(key)s, jsonb_build_array(%(item)s::text), %(expires)s) "
        "ON CONFLICT (key) DO UPDATE SET value = ("
        "SELECT COALESCE(jsonb_agg(x ORDER BY n), '[]'::jsonb) FROM ("
        "SELECT x, n FROM jsonb_array_elements(jsonb_build_array(%(item)s::text) || "
        "CASE WHEN e.expires_at > %(now)s AND jsonb_typeof(e.value) = 'array' "
        "THEN e.value ELSE '[]'::jsonb END) WITH ORDINALITY AS t(x, n) "
        "WHERE n = 1 OR x <> to_jsonb(%(item)s::text) ORDER BY n LIMIT %(keep)s) AS kept), "
        "expires_at = EXCLUDED.expires_at",
    ]
)
_REDIS_RECENT_PUSH = (
    "local raw = redis.call('GET', KEYS[1]) "
    "local old = {} "
    "if raw then local ok, v = pcall(cjson.decode, raw) "
    "if ok and type(v) == 'table' then old = v end end "
    "local new = {ARGV[1]} "
    "for _, x in ipairs(old) do "
    "if #new >= tonumber(ARGV[2]) then break end "
    "if x ~= ARGV[1] then table.insert(new, x) end end "
    "redis.call('SET', KEYS[1], cjson.encode(new), 'EX', tonumber(ARGV[3])) "
    "return #new"
)


def recent_push(key: str, item: str, *, keep: int, ttl: int) -> None:
    """Put ``item`` first in the list of strings at ``key`` (read with ``get``), drop its other
    occurrences, keep the first ``keep``, and let the list live ``ttl`` seconds from now. Atomic
    in both stores (one statement, one script): concurrent pushes lose nothing."""

    def run() -> None:
        if uses_redis():
            redis_client().eval(_REDIS_RECENT_PUSH, 1, redis_key(key), item, keep, ttl)
            return
        now, expires = _expiry(ttl)
        _pg_execute(
            _PG_RECENT_PUSH,
            {"key": _digest(key), "item": item, "keep": keep, "now": now, "expires": expires},
        )

    _guard(run)


def get(key: str) -> Any | None:
    """The live value at ``key``, or None."""

    def run() -> Any | None:
        if uses_redis():
            return _loads(redis_client().get(redis_key(key)))
        row = _pg_fetchone(
            f"SELECT value::text FROM {ENTRY_TABLE} "  # noqa: S608
            "WHERE key = %s AND expires_at > %s",
            [_digest(key), timezone.now()],
        )
        return json.loads(row[0]) if row else None

    return _guard(run)


def take_once(key: str) -> Any | None:
    """Remove the value at ``key`` and return it; of concurrent takers exactly one gets it."""

    def run() -> Any | None:
        if uses_redis():
            return _loads(redis_client().getdel(redis_key(key)))
        row = _pg_fetchone(
            f"DELETE FROM {ENTRY_TABLE} WHERE key = %s AND expires_at > %s "  # noqa: S608
            "RETURNING value::text",
            [_digest(key), timezone.now()],
        )
        return json.loads(row[0]) if row else None

    return _guard(run)


def get_many(keys: Iterable[str]) -> dict[str, Any]:
    """The live values of ``keys`` (absent keys are left out), in one round trip."""
    wanted = list(keys)

    def run() -> dict[str, Any]:
        if not wanted:
            return {}
        if uses_redis():
            raws = redis_client().mget([redis_key(key) for key in wanted])
            return {key: _loads(raw) for key, raw in zip(wanted, raws, strict=True) if raw}
        by_digest = {_digest(key): key for key in wanted}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT key, value::text FROM {ENTRY_TABLE} "  # noqa: S608
                "WHERE key = ANY(%s) AND expires_at > %s",
                [list(by_digest), timezone.now()],
            )
            return {by_digest[digest]: json.loads(raw) for digest, raw in cursor.fetchall()}

    return _guard(run)


def put_many(values: Mapping[str, Any], *, ttl: int) -> None:
    """Store several values for ``ttl`` seconds (one round trip on Redis)."""
    if not values:
        return
    if not uses_redis():
        for key, value in values.items():
            put(key, value, ttl=ttl)
        return

    def run() -> None:
        pipe = redis_client().pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(redis_key(key), json.dumps(value, separators=(",", ":")), ex=ttl)
        pipe.execute()

    _guard(run)


def delete_many(keys: Iterable[str]) -> None:
    doomed = list(keys)

    def run() -> None:
        if not doomed:
            return
        if uses_redis():
            redis_client().delete(*[redis_key(key) for key in doomed])
            return
        _pg_execute(
            f"DELETE FROM {ENTRY_TABLE} WHERE key = ANY(%s)",  # noqa: S608
            [[_digest(key) for key in doomed]],
        )

    _guard(run)


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete every expired row of the PostgreSQL store (Redis expires keys itself)."""
    if uses_redis():
        return 0
    moment = now or timezone.now()

    def run() -> int:
        return sum(
            _pg_execute(f"DELETE FROM {table} WHERE expires_at <= %s", [moment])  # noqa: S608
            for table in (COUNTER_TABLE, ENTRY_TABLE)
        )

    return _guard(run)
