"""Recording sign-in attempts: the one writer of ``LoginAttempt`` rows.

Every factor's outcome is one row (``AttemptMethod``): a failed password, TOTP or backup code,
magic link, passkey assertion or console sign-in, and each success. The sign-in paths are hot
and have query budgets (``tests/accounts/test_query_budgets.py``), so when the outcome also
writes its audit event (``LOGIN_SUCCESS``, ``LOGIN_FAILURE``), the row and the event go to the
database in one statement (``mana_auth.sqlbatch.insert_together``): recording the attempt
costs no round trip there. Callers pass the event instead of writing it themselves; a caller
that writes more rows in that statement (a sign-in's session) takes them from ``build``.

The rows name addresses (also unknown ones), IPs and user agents: they are kept
``LOGIN_ATTEMPT_RETENTION_DAYS`` (90) and then deleted by ``purge_expired``, which
``manage.py flush_outbox`` (the cron job) runs. The lockout does not read them (its counters are
``LoginThrottle``), so the purge never changes a lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from mana_auth.clientip import RequestMeta
from mana_auth.sqlbatch import insert_together
from security.models import AttemptMethod, EventType, LoginAttempt
from security.services import security_event_build


def build(
    *,
    method: AttemptMethod | str,
    success: bool,
    email_key: str,
    user: AbstractBaseUser | None,
    meta: RequestMeta,
    reason: str = "",
    known_device: bool = False,
    event_type: EventType | None = None,
    event_metadata: dict[str, Any] | None = None,
) -> list[Model]:
    """The rows ``record`` writes, checked and not yet saved: the attempt, and with
    ``event_type`` (and a known ``user``) its security event. For a caller that writes them in
    its own statement with other rows (``mana_auth.sqlbatch.insert_together``: a sign-in's
    session, refresh token, attempt and event)."""
    attempt = LoginAttempt(
        method=AttemptMethod(str(method)).value,  # refuses a method outside the closed set
        email_key=email_key,
        user=user,
        ip_address=meta.ip,
        user_agent=meta.user_agent,
        success=success,
        reason=reason,
        known_device=known_device,
    )
    if event_type is None or user is None:
        return [attempt]
    event = security_event_build(type=event_type, user=user, meta=meta, metadata=event_metadata)
    return [attempt, event]


def record(
    *,
    method: AttemptMethod | str,
    success: bool,
    email_key: str,
    user: AbstractBaseUser | None,
    meta: RequestMeta,
    reason: str = "",
    known_device: bool = False,
    event_type: EventType | None = None,
    event_metadata: dict[str, Any] | None = None,
) -> None:
    """Record one attempt with ``method``; with ``event_type`` (and a known ``user``), write
    that security event in the same statement. Call inside the transaction of the outcome it
    records, like ``security_event_record``."""
    rows = build(
        method=method,
        success=success,
        email_key=email_key,
        user=user,
        meta=meta,
        reason=reason,
        known_device=known_device,
        event_type=event_type,
        event_metadata=event_metadata,
    )
    if len(rows) == 1:
        rows[0].save(force_insert=True)
        return
    insert_together(*rows)


# Rows per DELETE: each batch is its own short statement (autocommit), so a first purge of a
# large backlog never holds a long transaction or a long lock on the table sign-ins write to.
PURGE_BATCH_SIZE = 5000
_PURGE_SQL = (
    "DELETE FROM security_login_attempt WHERE id IN ("
    "SELECT id FROM security_login_attempt WHERE created_at < %s ORDER BY created_at LIMIT %s)"
)


def purge_expired(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Delete the attempts older than ``LOGIN_ATTEMPT_RETENTION_DAYS`` (0: keep them all), in
    batches, oldest first; how many went."""
    days = settings.LOGIN_ATTEMPT_RETENTION_DAYS
    if not days or days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    size = batch_size or PURGE_BATCH_SIZE
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_PURGE_SQL, [cutoff, size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < size:
            return total
