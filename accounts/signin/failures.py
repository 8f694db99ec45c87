"""The one recorder of a failed credential that counts toward the lockout: password,
second-factor code or admin sign-in.

Only genuine credential failures reach it (a wrong password or code, an unknown address);
anything else propagates and is classified (a broken database is a 503 and counts nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.mailqueue import mail_enqueue
from accounts.models import User
from mana_auth.clientip import RequestMeta
from security import attempts, lockout, ratelimit
from security.models import AttemptMethod, EventType
from security.services import security_event_record

# How ``ACCOUNT_LOCKED`` names the counter that locked, by its scope's prefix.
_SCOPE_NAMES = {"acct": "account", "dev": "device", "link": "magic_link"}


def sign_in_failure_record(
    *,
    key: str,
    scope: str,
    user: User | None,
    meta: RequestMeta,
    method: AttemptMethod,
    reason: str,
    known_device: bool = False,
    metadata: dict[str, Any] | None = None,
    events: Sequence[tuple[EventType, dict[str, Any]]] = (),
    now: datetime | None = None,
    counted: lockout.FailureOutcome | None = None,
) -> lockout.FailureOutcome:
    """Count one credential failure toward the lockout counter ``scope`` and write its audit
    trail, in a transaction of its own, so the count survives the error response that follows:

    the ``LoginAttempt`` row with its ``method``, ``LOGIN_FAILURE`` (``reason``, ``metadata``,
    the count; one statement with the row) and ``events`` when the account is known, and when
    this failure locks the counter, ``ACCOUNT_LOCKED`` and a mail to the owner. Then the failure
    counts toward the per-IP budget of failed sign-ins (which may answer RATE_LIMITED).

    ``counted``: the failure was already counted when its check was reserved
    (``lockout.attempt_begin``); only its trail is written.
    """
    with transaction.atomic():
        outcome = counted or lockout.failure_record(scope=scope, email_key=key, now=now)
        attempts.record(
            method=method,
            success=False,
            email_key=key,
            user=user,
            meta=meta,
            reason=reason,
            known_device=known_device,
            event_type=EventType.LOGIN_FAILURE,
            event_metadata={"reason": reason, **(metadata or {}), "failures": outcome.failures},
        )
        if user is not None:
            for event_type, event_metadata in events:
                security_event_record(
                    type=event_type, user=user, meta=meta, metadata=event_metadata
                )
            if outcome.locked_now:
                security_event_record(
                    type=EventType.ACCOUNT_LOCKED,
                    user=user,
                    meta=meta,
                    metadata={"scope": _SCOPE_NAMES.get(scope.partition(":")[0], "account")},
                )
                mail_enqueue(
                    to=user.email,
                    name="account_locked",
                    locale=user.locale,
                    kind=user.kind,
                    context={
                        "name": user.name or user.email,
                        "minutes": settings.LOCKOUT_DURATION_SECONDS // 60,
                    },
                )
    ratelimit.hit(ratelimit.LOGIN_FAILURES_IP, meta.ip)
    return outcome
