"""Fixed-window rate limits in the shared state (Redis with ``REDIS_URL``, else PostgreSQL).

Counters live in ``security.shared_state``, so every worker sees the same numbers. When the
store is unreachable the guarded endpoints fail closed: 503 SERVICE_UNAVAILABLE, nothing
counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from mana_auth.clientip import ip_rate_key
from mana_auth.errors import RateLimited
from security import shared_state


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int
    # Counted per client address: an IPv6 client by its /64 (``mana_auth.clientip``).
    per_ip: bool = False


# The documented limits (README "Rate limits").
REGISTER_IP = Limit("register-ip", 10, 3600, per_ip=True)
LOGIN_IP = Limit("login-ip", 60, 60, per_ip=True)
LOGIN_FAILURES_IP = Limit("login-fail-ip", 20, 60, per_ip=True)
LOGIN_EMAIL = Limit("login-email", 30, 60)
FORGOT_IP = Limit("forgot-ip", 10, 3600, per_ip=True)
FORGOT_EMAIL = Limit("forgot-email", 3, 3600)
RESEND_IP = Limit("resend-ip", 10, 3600, per_ip=True)
RESEND_EMAIL = Limit("resend-email", 3, 3600)
MAGIC_IP = Limit("magic-ip", 10, 3600, per_ip=True)
MAGIC_EMAIL = Limit("magic-email", 5, 3600)
MFA_IP = Limit("mfa-ip", 30, 60, per_ip=True)
REAUTH_USER = Limit("reauth-user-failures", 10, 300)
PASSKEY_OPTIONS_IP = Limit("passkey-options-ip", 20, 60, per_ip=True)
PASSKEY_FAILURES_CREDENTIAL = Limit("passkey-fail-cred", 10, 60)  # per credential and address
PASSKEY_COOLDOWN_SECONDS = 300
# Failed verifications per address across credentials (random credential ids each fail): the
# one that spends the budget refuses the address until the window ends (``failure_count``).
PASSKEY_FAILURES_IP = Limit("passkey-fail-ip", 20, 60, per_ip=True)
ADMIN_LOGIN_IP = Limit("admin-login-ip", 10, 300, per_ip=True)
API_KEY_VALIDATE_IP = Limit("apikey-validate-ip", 600, 60, per_ip=True)
INVITE_SPACE = Limit("invite-space", 50, 3600)
# Side effects skipped (not refused) over budget, per recipient (``allowed``):
SIGNUP_NOTICE_EMAIL = Limit("signup-notice-email", 1, 3600)  # "someone tried to sign up"


def budget(limit: Limit) -> int:
    """The limit's budget, unless an operator overrode it (``RATE_LIMIT_OVERRIDES``)."""
    return int(settings.RATE_LIMIT_OVERRIDES.get(limit.name, limit.limit))


def _key(limit: Limit, ident: str, window: int) -> str:
    return f"rl:{limit.name}:{ident}:{window}"


def _ident(limit: Limit, ident: str | None) -> str | None:
    return ip_rate_key(ident) if limit.per_ip else ident


def _window(limit: Limit, now: float) -> tuple[int, int]:
    index = int(now // limit.window_seconds)
    retry_after = limit.window_seconds - int(now % limit.window_seconds)
    return index, retry_after


@dataclass(frozen=True)
class Reservation:
    """One use counted before it ran (``reserve``), to give back with ``refund``."""

    key: str
    durable: bool


def reserve(
    limit: Limit, ident: str | None, *, now: float | None = None, durable: bool = False
) -> Reservation | None:
    """Count one use *before* it runs; raise RATE_LIMITED (the use must not run) when that
    count is over the window's budget. Counted first, concurrent requests cannot run more
    uses than the budget (check-then-count could). Give the use back with ``refund`` when it
    turned out not to be one that counts (the right password). None: nothing was counted.

    ``durable``: the count survives a rollback of the caller's transaction (see
    ``shared_state.counter_incr``): for failures counted inside a transaction that the
    refusal then rolls back."""
    ident = _ident(limit, ident)
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return None
    current = time.time() if now is None else now
    index, retry_after = _window(limit, current)
    key = _key(limit, ident, index)
    count = shared_state.counter_incr(key, ttl=limit.window_seconds + 5, durable=durable)
    if count > budget(limit):
        raise RateLimited(retry_after)
    return Reservation(key=key, durable=durable)


def refund(reservation: Reservation | None) -> None:
    """Give back a use ``reserve`` counted, in the window it was counted in (an expired
    window is left alone)."""
    if reservation is not None:
        shared_state.counter_decr(reservation.key, durable=reservation.durable)


def hit(
    limit: Limit, ident: str | None, *, now: float | None = None, durable: bool = False
) -> None:
    """Count one request; raise RATE_LIMITED once the window's budget is spent (``durable``:
    as for ``reserve``)."""
    reserve(limit, ident, now=now, durable=durable)


def allowed(limit: Limit, ident: str | None) -> bool:
    """Count one event; whether it is within the budget of the window that began with the
    first event counted (not a clock window: ``Limit("x", 1, 3600)`` is at most one an hour).
    For side effects that are skipped over budget, not refused (the caller answers as
    before)."""
    ident = _ident(limit, ident)
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return True
    count = shared_state.counter_incr(f"rl:{limit.name}:{ident}", ttl=limit.window_seconds)
    return count <= budget(limit)


def spent(limit: Limit, ident: str | None, *, now: float | None = None) -> bool:
    """Count one event; whether the window's budget is now used up (the caller decides)."""
    ident = _ident(limit, ident)
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return False
    current = time.time() if now is None else now
    index, _ = _window(limit, current)
    count = shared_state.counter_incr(_key(limit, ident, index), ttl=limit.window_seconds + 5)
    return count >= budget(limit)


def check(limit: Limit, ident: str | None, *, now: float | None = None) -> None:
    """Raise RATE_LIMITED when the budget is already spent, without counting."""
    ident = _ident(limit, ident)
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return
    current = time.time() if now is None else now
    index, retry_after = _window(limit, current)
    if shared_state.counter_get(_key(limit, ident, index)) >= budget(limit):
        raise RateLimited(retry_after)


def failure_count(limit: Limit, ident: str | None, *, now: float | None = None) -> None:
    """Count one failure toward ``limit``; the failure that spends the window's budget refuses
    ``ident`` for the rest of the window: a cooldown named after the limit, read with the
    other cooldowns of the request (``cooldowns_check``, ``limit_cooldown``). Nothing is read
    before a request that succeeds, and successes count nothing: a limit on failures that
    costs the success path no round trip beyond the cooldown read it already makes."""
    ident = _ident(limit, ident)
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return
    current = time.time() if now is None else now
    index, retry_after = _window(limit, current)
    count = shared_state.counter_incr(_key(limit, ident, index), ttl=limit.window_seconds + 5)
    if count >= budget(limit):
        shared_state.put(f"cd:{limit.name}:{ident}", current + retry_after, ttl=retry_after)


def limit_cooldown(limit: Limit, ident: str | None) -> tuple[str, str | None]:
    """The cooldown ``failure_count`` sets for ``limit``, as ``cooldowns_check`` takes it."""
    return limit.name, _ident(limit, ident)


def cooldown_set(name: str, ident: str, seconds: int) -> None:
    shared_state.put(f"cd:{name}:{ident}", time.time() + seconds, ttl=seconds)


def cooldown_check(name: str, ident: str) -> None:
    cooldowns_check((name, ident))


def cooldowns_check(*cooldowns: tuple[str, str | None]) -> None:
    """Raise RATE_LIMITED while any of the ``(name, ident)`` cooldowns runs (the longest
    decides ``Retry-After``): all of them in one read of the shared state."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    keys = [f"cd:{name}:{ident}" for name, ident in cooldowns if ident]
    values = shared_state.get_many(keys)
    now = time.time()
    until = max((v for v in values.values() if isinstance(v, int | float)), default=0.0)
    if until > now:
        raise RateLimited(int(until - now) + 1)
