"""Password lockout policy: 5 failures in 15 minutes lock password sign-in for 30 minutes.

Made safe against lockout-as-denial-of-service:
- the lock covers the password only (passkeys, magic links and reset keep working);
- a device that signed in before (signed device cookie) has its own counter, so failures from
  elsewhere do not block it — only under the credential epoch it signed in with (a password
  change, reset, claim or "this wasn't me" report makes every earlier cookie unknown) and only
  for the address's ``KNOWN_DEVICES_PER_ADDRESS`` most recent devices;
- failures during a lock are not counted and do not extend it;
- unknown emails are counted exactly like real ones (no enumeration);
- a failure is counted and the lock decided in one statement (INSERT … ON CONFLICT DO UPDATE
  … RETURNING, under PostgreSQL's row lock): exact under concurrency, across workers; the
  password sign-in, the second-factor step (``login/mfa``) and the operators' console reserve
  their check that way before running it (``check_reserved``), so concurrent guesses get
  exactly the threshold of checks, never more.
Only genuine credential failures reach ``failure_record``; infrastructure errors never do.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from security import shared_state
from security.models import LoginThrottle

_DEVICE_SALT = "mana-auth.device-cookie"
_EPOCH_SALT = "mana-auth.device-cookie.credential-epoch"
DEVICE_COOKIE_MAX_AGE = 180 * 24 * 3600
# How many devices per address have their own budget and lockout counter: the most recent
# password sign-ins under the current credential epoch.
KNOWN_DEVICES_PER_ADDRESS = 3


@dataclass(frozen=True)
class FailureOutcome:
    failures: int
    locked_now: bool
    locked_until: datetime | None
    # Locked before this failure: not counted (and, for a reserved attempt, not to be checked).
    refused: bool = False
    window_started_at: datetime | None = None

    def remaining_seconds(self, now: datetime | None = None) -> int:
        if self.locked_until is None:
            return 1 if self.refused else 0
        left = (self.locked_until - (now or timezone.now())).total_seconds()
        return max(1, int(left)) if left > 0 else 0


def credential_epoch(password_hash: str) -> str:
    """The account's credential epoch, for binding device cookies: it changes whenever the
    stored password does (a change, a reset, an address claim, a "this wasn't me" report,
    which all write a new hash or an unusable one). An HMAC: the cookie says nothing about the
    hash."""
    return salted_hmac(_EPOCH_SALT, password_hash, algorithm="sha256").hexdigest()[:32]


def _known_devices_key(email_key: str, epoch: str) -> str:
    return f"known-devices:{email_key}:{epoch}"


def _cookie_device(raw: str | None, email_key: str, epoch: str) -> str | None:
    """The device id of a genuine cookie for this address, minted under this epoch."""
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != email_key:
        return None
    stamp, device = data.get("s"), data.get("d")
    if not isinstance(stamp, str) or not constant_time_compare(stamp, epoch):
        return None
    return device if isinstance(device, str) else None


def device_cookie_make(email_key: str, epoch: str, device_id: str | None = None) -> str:
    """A signed token saying "this browser signed in to this account, under this credential
    epoch" (``credential_epoch``)."""
    device = device_id or secrets.token_urlsafe(16)
    return signing.dumps({"e": email_key, "d": device, "s": epoch}, salt=_DEVICE_SALT)


def device_id_from_cookie(raw: str | None, email_key: str, epoch: str | None) -> str | None:
    """The device id when this browser is a known device of the account, else None: the cookie
    is genuine, belongs to this address, was minted under the current credential epoch (a
    cookie from before a password change, reset, claim or report is unknown), and the device
    is one of the address's ``KNOWN_DEVICES_PER_ADDRESS`` most recent sign-ins (beyond that,
    a browser shares the unknown budget and counter: minting cookies while the password was
    known buys no extra guesses). ``epoch`` None: no such account."""
    if epoch is None:
        return None
    device = _cookie_device(raw, email_key, epoch)
    if device is None:
        return None
    known = shared_state.get(_known_devices_key(email_key, epoch))
    if not isinstance(known, list) or device not in known[:KNOWN_DEVICES_PER_ADDRESS]:
        return None
    return device


def device_remember(raw: str | None, email_key: str, epoch: str) -> str:
    """After a completed password sign-in: this browser becomes the address's most recent known
    device (the least recent beyond ``KNOWN_DEVICES_PER_ADDRESS`` drops out). Returns the device
    cookie to set: its own id again when it carries a genuine one of this epoch, else a new one.
    One atomic write (``shared_state.recent_push``)."""
    device = _cookie_device(raw, email_key, epoch) or secrets.token_urlsafe(16)
    shared_state.recent_push(
        _known_devices_key(email_key, epoch),
        device,
        keep=KNOWN_DEVICES_PER_ADDRESS,
        ttl=DEVICE_COOKIE_MAX_AGE,
    )
    return device_cookie_make(email_key, epoch, device)


def email_budget_key(email_key: str, device_cookie: str | None) -> str:
    """The per-address rate-limit key of a request: a browser that signed in to this account
    before (a genuine device cookie of it) has its own budget, so a stranger who spends the
    address's budget (sign-in links, reset or verification mails) does not keep the owner's
    device out. Decided from the signed cookie alone, never from the database: the answer is
    the same for a known and an unknown address. So the credential epoch and the known-device
    list (which need the account) are not consulted here: the per-IP limits bound what a
    browser holding several old cookies can ask for."""
    if not device_cookie:
        return email_key
    try:
        data = signing.loads(device_cookie, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return email_key
    if not isinstance(data, dict) or data.get("e") != email_key:
        return email_key
    device_id = data.get("d")
    return f"{email_key}\ndevice:{device_id}" if isinstance(device_id, str) else email_key


def scope_for(email_key: str, device_id: str | None) -> str:
    return f"dev:{email_key}:{device_id}" if device_id else f"acct:{email_key}"


def magic_link_scope(email_key: str) -> str:
    """The counter for second-factor codes after a magic link: a password lock must not stop
    the owner finishing a magic-link sign-in, but guessing codes behind a link still locks."""
    return f"link:{email_key}"


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


# One statement counts a failure and decides the lock, under the row lock PostgreSQL takes for
# ON CONFLICT DO UPDATE: concurrent failures, on any worker, serialise on it and each sees the
# count the previous one left. A scope already locked is not counted (the WHERE leaves it, and
# nothing comes back), so failures during a lock never extend it. A window that has run out,
# or a lock that has expired, starts a fresh count.
_FRESH = "(t.window_started_at + %(window)s <= %(now)s OR t.locked_until IS NOT NULL)"
_COUNT = f"(CASE WHEN {_FRESH} THEN 1 ELSE t.failures + 1 END)"
_FAILURE_SQL = (
    "INSERT INTO security_login_throttle AS t "  # noqa: S608 - constants only, never input
    "(scope, email_key, failures, window_started_at, locked_until, updated_at) "
    "VALUES (%(scope)s, %(email_key)s, 1, %(now)s, "
    "CASE WHEN 1 >= %(max)s THEN %(lock_until)s END, %(now)s) "
    "ON CONFLICT (scope) DO UPDATE SET "
    f"failures = {_COUNT}, "
    f"window_started_at = CASE WHEN {_FRESH} THEN %(now)s ELSE t.window_started_at END, "
    f"locked_until = CASE WHEN {_COUNT} >= %(max)s THEN %(lock_until)s END, "
    "updated_at = %(now)s "
    "WHERE t.locked_until IS NULL OR t.locked_until <= %(now)s "
    "RETURNING failures, window_started_at, locked_until"
)

# Give back a reserved attempt that turned out not to be a failure (the right password, or
# our own dependency failing). Only within the window it was counted in; a lock it set is
# lifted when the count falls below the threshold again; a count that falls to nothing leaves
# no row. Two statements, each re-checked on the row lock, so a concurrent count is never lost.
_REFUND_DELETE_SQL = (
    "DELETE FROM security_login_throttle "
    "WHERE scope = %(scope)s AND window_started_at = %(window_started_at)s AND failures <= 1"
)
_REFUND_SQL = (
    "UPDATE security_login_throttle SET failures = failures - 1, "
    "locked_until = CASE WHEN failures - 1 < %(max)s THEN NULL ELSE locked_until END, "
    "updated_at = %(now)s "
    "WHERE scope = %(scope)s AND window_started_at = %(window_started_at)s AND failures > 1"
)


def failure_record(*, scope: str, email_key: str, now: datetime | None = None) -> FailureOutcome:
    """Count one credential failure and decide the lock, atomically (one statement).

    Also the reservation of a check that is about to run (``attempt_begin``): counted first,
    the check cannot be raced past the threshold by concurrent guesses.
    """
    current = now or timezone.now()
    params = {
        "scope": scope,
        "email_key": email_key,
        "now": current,
        "window": timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS),
        "max": settings.LOCKOUT_MAX_FAILURES,
        "lock_until": current + timedelta(seconds=settings.LOCKOUT_DURATION_SECONDS),
    }
    with connection.cursor() as cursor:
        cursor.execute(_FAILURE_SQL, params)
        row = cursor.fetchone()
    if row is None:  # locked already: not counted, the lock not extended
        locked = LoginThrottle.objects.filter(scope=scope).values_list(
            "failures", "locked_until", "window_started_at"
        )
        failures, locked_until, started = locked.first() or (0, None, None)
        return FailureOutcome(failures, False, locked_until, True, started)
    failures, started, locked_until = row
    return FailureOutcome(failures, locked_until is not None, locked_until, False, started)


def attempt_begin(*, scope: str, email_key: str, now: datetime | None = None) -> FailureOutcome:
    """Reserve one credential check on ``scope`` before running it: counted as a failure and
    the lock decided in the same statement. ``refused`` means the scope is locked (check
    nothing). The caller gives the reservation back (``attempt_refund``) unless the check
    fails, so a correct password or a failure of ours counts nothing; a completed sign-in
    clears the scope (``success_record``)."""
    return failure_record(scope=scope, email_key=email_key, now=now)


def attempt_refund(*, scope: str, attempt: FailureOutcome, now: datetime | None = None) -> None:
    """Give back a reservation of ``attempt_begin`` that was not a credential failure."""
    if attempt.refused or attempt.window_started_at is None:
        return
    params = {
        "scope": scope,
        "window_started_at": attempt.window_started_at,
        "max": settings.LOCKOUT_MAX_FAILURES,
        "now": now or timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_REFUND_DELETE_SQL, params)
        if cursor.rowcount == 0:
            cursor.execute(_REFUND_SQL, params)


@contextmanager
def check_reserved(*, scope: str, email_key: str) -> Iterator[FailureOutcome]:
    """Run one credential check on ``scope`` counted before it runs: the one way a sign-in
    (the API's password sign-in, the operators' console) checks a password under the lockout.

    Yields the reservation of ``attempt_begin``: when ``refused``, the scope is locked and the
    caller checks nothing (it answers with the lock). Anything the body raises — the right
    password going on to a second factor, an unverified address, a failure of ours — gives the
    reservation back (``attempt_refund``) and propagates. A body that completes keeps it: the
    caller then either records the failure it found (``counted=`` the reservation, nothing
    counted twice) or, for a completed sign-in, clears the scope (``success_record``, or
    ``success_statement`` inside the sign-in's own write).
    """
    attempt = attempt_begin(scope=scope, email_key=email_key)
    try:
        yield attempt
    except BaseException:
        attempt_refund(scope=scope, attempt=attempt)  # a refused one has nothing to give back
        raise


def success_statement(*, scope: str) -> tuple[str, list[object]]:
    """``success_record`` as a statement for a caller that runs it inside its own (a password
    sign-in's session write, ``mana_auth.sqlbatch.insert_together(also=…)``)."""
    return "DELETE FROM security_login_throttle WHERE scope = %s", [scope]


def success_record(*, scope: str) -> None:
    """A successful sign-in resets that scope's count.

    One plain DELETE: the ORM's ``delete()`` wraps even a fast delete in BEGIN … COMMIT, two
    round trips more on every password sign-in (which now always has a row: its reservation).
    """
    sql, params = success_statement(scope=scope)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def unlock(*, email_key: str) -> int:
    """Clear every counter and lock of an account (operators, completed password reset)."""
    deleted, _ = LoginThrottle.objects.filter(email_key=email_key).delete()
    return deleted


def is_locked(*, email_key: str, now: datetime | None = None) -> bool:
    current = now or timezone.now()
    return LoginThrottle.objects.filter(
        email_key=email_key, scope=scope_for(email_key, None), locked_until__gt=current
    ).exists()
