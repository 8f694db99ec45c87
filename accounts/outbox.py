"""Notices to other Mana services: written in the transaction of the change, tried once right
after commit, retried by ``manage.py flush_outbox``.

A notice is an ``OutboxMessage`` row. It exists only if the change committed (same
transaction), and the change never waits for or fails because of the other service: the
attempt runs after commit with a short timeout, and a failure is logged at warning level and
recorded on the row (``attempts``, ``last_error``, ``next_attempt_at``).

Targets:

- ``credits`` (``MANA_CREDITS_URL``; off while unset): ``POST {MANA_CREDITS_URL}/api/v1/
  internal/events`` with ``X-Service-Key`` and ``Idempotency-Key: <message id>``, body
  ``{id, event, occurredAt, data: {userId, …}}``. Any 2xx is delivered. Redirects are not
  followed (the service key must not travel to another host). Accounts sends ``user.created``
  and ``user.deleted``; Spaces (a higher layer) enqueues ``space.*`` for shared Spaces through
  ``outbox_enqueue`` with ``subject="space:<id>"``, which keeps one Space's notices in order.
- ``sync_store``: on deletion, the user's rows in the sync store (its own database when
  ``SYNC_DATABASE_URL`` is set) are deleted after commit. Spaces owns the sync store: it
  enqueues that notice while the account is erased and registers its sender
  (``register_sender``) in ``SpacesConfig.ready()``.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import OutboxEvent, OutboxMessage, OutboxTarget, User
from mana_auth.after_response import after_response

logger = logging.getLogger("mana_auth.outbox")

TIMEOUT_SECONDS = 2.0
EVENTS_PATH = "/api/v1/internal/events"
# A claimed message is left alone by other workers this long (longer than one attempt).
CLAIM_SECONDS = 60
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 6 * 3600
DELIVERED_RETENTION = timedelta(days=30)
_ERROR_MAX = 300


def credits_configured() -> bool:
    return bool(settings.MANA_CREDITS_URL)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes after the n-th failed attempt, at most six hours."""
    exponent = min(max(attempts, 1) - 1, 20)
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2**exponent, BACKOFF_MAX_SECONDS))


# --- Enqueue ------------------------------------------------------------------------------------


def _deliver_after_commit(message_ids: list[Any]) -> None:
    def deliver() -> None:
        for message_id in message_ids:
            outbox_deliver(message_id=message_id)

    # After commit, and in a web request after the response: the caller's timing must not
    # include another service's (a sign-up for a new address would answer slower than one for
    # a known address). ``robust``: an unexpected error is logged, never the user's response.
    transaction.on_commit(lambda: after_response(deliver), robust=True)


def outbox_enqueue_signup(*, user: User) -> None:
    """Tell other services about a new account (no-op while none is configured). Call inside
    the sign-up transaction."""
    if not credits_configured():
        return
    message = OutboxMessage.objects.create(
        target=OutboxTarget.CREDITS,
        event=OutboxEvent.USER_CREATED,
        user_id=user.pk,
        payload={
            "userId": str(user.pk),
            "kind": user.kind,
            "createdAt": user.created_at.isoformat(),
        },
    )
    _deliver_after_commit([message.pk])


def outbox_enqueue(
    *,
    target: OutboxTarget,
    event: OutboxEvent,
    user_id: object,
    payload: dict[str, Any],
    subject: str = "",
) -> None:
    """Queue one notice (identifiers only, never a secret) and try it right after commit. Call
    inside the transaction of the change it reports. Notices sharing a ``subject`` are
    delivered in the order they were queued."""
    message = OutboxMessage.objects.create(
        target=target, event=event, user_id=user_id, payload=payload, subject=subject
    )
    _deliver_after_commit([message.pk])


def outbox_enqueue_deletion(*, user_id: object) -> None:
    """Tell the credits service an account is gone. Call inside the deletion's transaction
    (the sync store's notice is spaces', queued while the account's data is erased)."""
    # A pending "created" must not arrive after "deleted"; delivered ones are bookkeeping.
    OutboxMessage.objects.filter(user_id=user_id, event=OutboxEvent.USER_CREATED).delete()
    if credits_configured():
        outbox_enqueue(
            target=OutboxTarget.CREDITS,
            event=OutboxEvent.USER_DELETED,
            user_id=user_id,
            payload={"userId": str(user_id), "deletedAt": timezone.now().isoformat()},
        )


# --- Delivery -----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_to_credits(message: OutboxMessage) -> str | None:
    """POST the notice; None when delivered, else a short reason (never a secret)."""
    url = settings.MANA_CREDITS_URL.rstrip("/") + EVENTS_PATH
    if urlsplit(url).scheme not in ("http", "https"):
        return "MANA_CREDITS_URL must be an http(s) URL"
    body = json.dumps(
        {
            "id": str(message.pk),
            "event": message.event,
            "occurredAt": message.created_at.isoformat(),
            "data": message.payload,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Service-Key": settings.MANA_SERVICE_KEY,
            "Idempotency-Key": str(message.pk),
            "User-Agent": "mana-auth-outbox",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return f"unreachable: {exc.reason}"
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        return f"unreachable: {type(exc).__name__}"
    return None if 200 <= status < 300 else f"HTTP {status}"


# target → sender(message) → None when delivered, else a short reason (never a secret).
Sender = Callable[[OutboxMessage], str | None]
_SENDERS: dict[str, Sender] = {OutboxTarget.CREDITS.value: _post_to_credits}


def register_sender(target: str, sender: Sender) -> None:
    """Deliver notices to ``target`` with ``sender`` (filled by the app owning the target)."""
    _SENDERS[OutboxTarget(target).value] = sender


def _sendable(target: str) -> bool:
    return target in _SENDERS and (target != OutboxTarget.CREDITS or credits_configured())


def _older_pending(message: OutboxMessage) -> bool:
    return (
        OutboxMessage.objects.filter(
            target=message.target,
            subject=message.subject,
            delivered_at__isnull=True,
            created_at__lt=message.created_at,
        )
        .exclude(pk=message.pk)
        .exists()
    )


def outbox_deliver(
    *, message_id: object, now: datetime | None = None, ignore_backoff: bool = False
) -> bool | None:
    """Try one message once. True: delivered; False: failed (recorded, retried later);
    None: nothing to do (delivered already, not due, claimed by another worker, its target
    is not configured, or an older message on the same subject is still pending)."""
    current = now or timezone.now()
    message = OutboxMessage.objects.filter(pk=message_id, delivered_at__isnull=True).first()
    if message is None or not _sendable(message.target):
        return None
    if message.subject and _older_pending(message):
        return None
    due = Q() if ignore_backoff else Q(next_attempt_at__lte=current)
    # The conditional UPDATE is the claim: of two concurrent workers, one sends.
    claimed = OutboxMessage.objects.filter(
        due, pk=message.pk, delivered_at__isnull=True, attempts=message.attempts
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=current + timedelta(seconds=CLAIM_SECONDS),
    )
    if claimed != 1:
        return None
    attempts = message.attempts + 1
    error = _SENDERS[OutboxTarget(message.target).value](message)
    if error is None:
        OutboxMessage.objects.filter(pk=message.pk).update(
            delivered_at=timezone.now(), last_error=""
        )
        return True
    OutboxMessage.objects.filter(pk=message.pk).update(
        last_error=error[:_ERROR_MAX], next_attempt_at=timezone.now() + backoff(attempts)
    )
    logger.warning(
        "outbox: %s to %s failed (attempt %d, message %s): %s",
        message.event,
        message.target,
        attempts,
        message.pk,
        error,
    )
    return False


@dataclass(frozen=True)
class FlushReport:
    delivered: int
    failed: int
    skipped: int
    pending: int
    pruned: int


def outbox_flush(
    *, now: datetime | None = None, ignore_backoff: bool = False, limit: int = 500
) -> FlushReport:
    """Retry the pending messages that are due (all of them with ``ignore_backoff``), oldest
    first, and prune delivered ones past their retention."""
    current = now or timezone.now()
    pending = OutboxMessage.objects.filter(delivered_at__isnull=True)
    due = pending if ignore_backoff else pending.filter(next_attempt_at__lte=current)
    ids = list(due.order_by("created_at", "id").values_list("id", flat=True)[:limit])
    outcomes = [
        outbox_deliver(message_id=message_id, now=current, ignore_backoff=ignore_backoff)
        for message_id in ids
    ]
    pruned, _ = OutboxMessage.objects.filter(
        delivered_at__lt=current - DELIVERED_RETENTION
    ).delete()
    return FlushReport(
        delivered=outcomes.count(True),
        failed=outcomes.count(False),
        skipped=outcomes.count(None),
        pending=pending.count(),
        pruned=pruned,
    )
