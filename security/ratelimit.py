"""Fixed-window rate limits over Django's cache (Redis when ``REDIS_URL`` is set).

Counters live in the shared cache, so every worker sees the same numbers. When the cache is
unreachable the guarded endpoints fail closed: 503 SERVICE_UNAVAILABLE, nothing counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from mana_auth.errors import RateLimited, ServiceUnavailable, is_infrastructure_error


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


# The documented limits (README "Rate limits").
REGISTER_IP = Limit("register-ip", 10, 3600)
LOGIN_IP = Limit("login-ip", 60, 60)
LOGIN_FAILURES_IP = Limit("login-fail-ip", 20, 60)
LOGIN_EMAIL = Limit("login-email", 30, 60)
FORGOT_IP = Limit("forgot-ip", 10, 3600)
FORGOT_EMAIL = Limit("forgot-email", 3, 3600)
RESEND_IP = Limit("resend-ip", 10, 3600)
RESEND_EMAIL = Limit("resend-email", 3, 3600)
MAGIC_IP = Limit("magic-ip", 10, 3600)
MAGIC_EMAIL = Limit("magic-email", 5, 3600)
MFA_IP = Limit("mfa-ip", 30, 60)
REAUTH_USER = Limit("reauth-user-failures", 10, 300)
PASSKEY_OPTIONS_IP = Limit("passkey-options-ip", 20, 60)
PASSKEY_FAILURES_CREDENTIAL = Limit("passkey-fail-cred", 10, 60)
PASSKEY_COOLDOWN_SECONDS = 300
ADMIN_LOGIN_IP = Limit("admin-login-ip", 10, 300)
API_KEY_VALIDATE_IP = Limit("apikey-validate-ip", 600, 60)
INVITE_SPACE = Limit("invite-space", 50, 3600)


def budget(limit: Limit) -> int:
    """The limit's budget, unless an operator overrode it (``RATE_LIMIT_OVERRIDES``)."""
    return int(settings.RATE_LIMIT_OVERRIDES.get(limit.name, limit.limit))


def _key(limit: Limit, ident: str, window: int) -> str:
    return f"rl:{limit.name}:{ident}:{window}"


def _window(limit: Limit, now: float) -> tuple[int, int]:
    index = int(now // limit.window_seconds)
    retry_after = limit.window_seconds - int(now % limit.window_seconds)
    return index, retry_after


def hit(limit: Limit, ident: str | None, *, now: float | None = None) -> None:
    """Count one request; raise RATE_LIMITED once the window's budget is spent."""
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return
    current = time.time() if now is None else now
    index, retry_after = _window(limit, current)
    key = _key(limit, ident, index)
    try:
        cache.add(key, 0, timeout=limit.window_seconds + 5)
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr: start again
        cache.set(key, 1, timeout=limit.window_seconds + 5)
        count = 1
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise
    if count > budget(limit):
        raise RateLimited(retry_after)


def check(limit: Limit, ident: str | None, *, now: float | None = None) -> None:
    """Raise RATE_LIMITED when the budget is already spent, without counting."""
    if not settings.RATE_LIMITS_ENABLED or not ident:
        return
    current = time.time() if now is None else now
    index, retry_after = _window(limit, current)
    try:
        count = cache.get(_key(limit, ident, index), 0)
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise
    if count >= budget(limit):
        raise RateLimited(retry_after)


def cooldown_set(name: str, ident: str, seconds: int) -> None:
    try:
        cache.set(f"cd:{name}:{ident}", time.time() + seconds, timeout=seconds)
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise


def cooldown_check(name: str, ident: str) -> None:
    if not settings.RATE_LIMITS_ENABLED:
        return
    try:
        until = cache.get(f"cd:{name}:{ident}")
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise
    if until and until > time.time():
        raise RateLimited(int(until - time.time()) + 1)
