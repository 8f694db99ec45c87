"""Password lockout policy: 5 failures in 15 minutes lock password sign-in for 30 minutes.

Made safe against lockout-as-denial-of-service:
- the lock covers the password only (passkeys, magic links and reset keep working);
- a device that signed in before (signed device cookie) has its own counter, so failures from
  elsewhere do not block it;
- failures during a lock are not counted and do not extend it;
- unknown emails are counted exactly like real ones (no enumeration);
- counters are rows locked with SELECT … FOR UPDATE: exact under concurrency, across workers.
Only genuine credential failures reach ``failure_record``; infrastructure errors never do.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.utils import timezone

from security.models import LoginThrottle

_DEVICE_SALT = "mana-auth.device-cookie"
DEVICE_COOKIE_MAX_AGE = 180 * 24 * 3600


@dataclass(frozen=True)
class FailureOutcome:
    failures: int
    locked_now: bool
    locked_until: datetime | None


def device_cookie_make(email_key: str) -> str:
    """A signed token saying "this browser signed in to this account before"."""
    return signing.dumps({"e": email_key, "d": secrets.token_urlsafe(16)}, salt=_DEVICE_SALT)


def device_id_from_cookie(raw: str | None, email_key: str) -> str | None:
    """The device id when the cookie is genuine and belongs to this account, else None."""
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != email_key:
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def scope_for(email_key: str, device_id: str | None) -> str:
    return f"dev:{email_key}:{device_id}" if device_id else f"acct:{email_key}"


def magic_link_scope(email_key: str) -> str:
    """The counter for second-factor codes after a magic link: a password lock must not stop
    the owner finishing a magic-link sign-in, but guessing codes behind a link still locks."""
    return f"link:{email_key}"


def throttle_state(scope: str, *, now: datetime | None = None) -> tuple[bool, int]:
    """``(a counter row exists, seconds the lock still runs)`` in one query."""
    current = now or timezone.now()
    row = LoginThrottle.objects.filter(scope=scope).values_list("locked_until").first()
    if row is None:
        return False, 0
    locked_until = row[0]
    if locked_until is None or locked_until <= current:
        return True, 0
    return True, max(1, int((locked_until - current).total_seconds()))


def remaining_lock_seconds(scope: str, *, now: datetime | None = None) -> int:
    current = now or timezone.now()
    locked_until = (
        LoginThrottle.objects.filter(scope=scope, locked_until__gt=current)
        .values_list("locked_until", flat=True)
        .first()
    )
    if locked_until is None:
        return 0
    return max(1, int((locked_until - current).total_seconds()))


def failure_record(*, scope: str, email_key: str, now: datetime | None = None) -> FailureOutcome:
    """Count one credential failure; lock when the window's budget is spent."""
    current = now or timezone.now()
    window = timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO security_login_throttle "
                "(scope, email_key, failures, window_started_at, locked_until, updated_at) "
                "VALUES (%s, %s, 0, %s, NULL, %s) ON CONFLICT (scope) DO NOTHING",
                [scope, email_key, current, current],
            )
        row = LoginThrottle.objects.select_for_update().get(scope=scope)
        if row.locked_until and row.locked_until > current:
            return FailureOutcome(row.failures, False, row.locked_until)
        if row.window_started_at + window <= current or row.locked_until:
            row.failures = 0
            row.window_started_at = current
            row.locked_until = None
        row.failures += 1
        locked_now = row.failures >= settings.LOCKOUT_MAX_FAILURES
        if locked_now:
            row.locked_until = current + timedelta(seconds=settings.LOCKOUT_DURATION_SECONDS)
        row.save(update_fields=["failures", "window_started_at", "locked_until", "updated_at"])
        return FailureOutcome(row.failures, locked_now, row.locked_until)


def success_record(*, scope: str) -> None:
    """A successful password sign-in resets that scope's count."""
    LoginThrottle.objects.filter(scope=scope).delete()


def unlock(*, email_key: str) -> int:
    """Clear every counter and lock of an account (operators, completed password reset)."""
    deleted, _ = LoginThrottle.objects.filter(email_key=email_key).delete()
    return deleted


def is_locked(*, email_key: str, now: datetime | None = None) -> bool:
    current = now or timezone.now()
    return LoginThrottle.objects.filter(
        email_key=email_key, scope=scope_for(email_key, None), locked_until__gt=current
    ).exists()
