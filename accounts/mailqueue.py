"""The mail queue: mail is written in the request's transaction and sent after the response.

Why: a request that mails only when an address has an account ("forgot password", "magic
link", "resend verification", "someone tried to sign up", "account locked", "confirm your new
address") answered measurably slower for known addresses, and a mail-server outage turned into
an error the caller could see. Now such a request writes one ``QueuedMail`` row and returns;
nothing on its path depends on the mail server.

Two kinds of rows:

- **address requests** (``password_reset``, ``magic_link``, ``verification``): "mail a link to
  this address, if it has an account". The request writes the same row whether or not the
  address is known — it does not even look the address up. The deliverer *resolves* the row
  after the response: a registered resolver looks the account up, issues the token, records
  the security event and renders the mail (or returns nothing, and the row is dropped).
- **rendered mails** (``mail``): subject and bodies, one-time links included. These rows are
  secret-bearing: never shown in the admin or exported, deleted as soon as they are delivered
  or expire (a link in an undelivered mail is useless after its token's lifetime anyway).

Delivery: ``transaction.on_commit`` wakes a per-process background thread — in a web request
only once the response has been sent (``request_finished``) — which sends what is due, one
claim per row (a conditional UPDATE, so two processes never send the same mail). A failure
(SMTP error, connection refused, timeout) is recorded on the row and retried with backoff
(1 minute doubling to 6 hours); ``manage.py flush_outbox`` from cron is the backstop for rows
a process left behind (restart, crash, outage). The thread is off while ``MAIL_QUEUE_WORKER``
is false (the test settings): tests call ``mail_queue_deliver_now()``.

Mail that a signed-in user's own change triggers (password changed, second factor changed,
refresh-token reuse) is still sent inside that change's transaction (``mana_auth.mail``): it
names no other address and reveals nothing, and a change whose notice cannot be sent should
not happen silently.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.signals import request_finished, request_started
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import QueuedMail, QueuedMailKind
from accounts.outbox import backoff
from mana_auth.clientip import RequestMeta
from mana_auth.errors import is_infrastructure_error
from mana_auth.mail import mail_suppressed, render_mail

logger = logging.getLogger("mana_auth.mailqueue")

# A claimed row is left alone by other processes this long (longer than one SMTP attempt).
CLAIM_SECONDS = 120
REQUEST_MAX_AGE = timedelta(days=1)  # an address request nobody resolved by then is dropped
MAIL_MAX_AGE = timedelta(days=3)  # a rendered mail without a link of its own expires then
RETRY_POLL_SECONDS = 60.0
_ERROR_MAX = 300


@dataclass(frozen=True)
class OutgoingMail:
    """A rendered mail for one recipient; ``expires_at``: when its content is useless."""

    to: str
    subject: str
    text: str
    html: str
    expires_at: datetime | None = None


# kind → resolver(email=…, meta=…, payload=…) → the mail to send, or None (nothing to send).
# Filled in AppConfig.ready() by the apps that own the flows.
Resolver = Callable[..., OutgoingMail | None]
_RESOLVERS: dict[str, Resolver] = {}


def register_resolver(kind: str, resolver: Resolver) -> None:
    _RESOLVERS[QueuedMailKind(kind).value] = resolver


def outgoing_mail(
    *,
    to: str,
    name: str,
    context: dict[str, Any],
    locale: str | None,
    kind: str = "human",
    expires_at: datetime | None = None,
) -> OutgoingMail | None:
    """Render one mail from its templates; None when the recipient never receives mail."""
    if mail_suppressed(to=to, kind=kind):
        return None
    subject, text, html = render_mail(name, context, locale, recipient=to)
    return OutgoingMail(to=to, subject=subject, text=text, html=html, expires_at=expires_at)


# --- Enqueue ------------------------------------------------------------------------------------


def mail_enqueue(
    *,
    to: str,
    name: str,
    context: dict[str, Any],
    locale: str | None,
    kind: str = "human",
    expires_at: datetime | None = None,
) -> None:
    """Render a mail now and queue it for delivery after commit. Call inside the transaction
    of the change it reports (with ``send_mail``'s arguments)."""
    mail = outgoing_mail(
        to=to, name=name, context=context, locale=locale, kind=kind, expires_at=expires_at
    )
    if mail is not None:
        mail_queue_store(mail)


def mail_queue_store(mail: OutgoingMail) -> None:
    """Queue an already rendered mail (see ``outgoing_mail``) for delivery after commit."""
    now = timezone.now()
    QueuedMail.objects.create(
        kind=QueuedMailKind.MAIL,
        recipient=mail.to,
        subject=mail.subject,
        text_body=mail.text,
        html_body=mail.html,
        created_at=now,
        next_attempt_at=now,
        expires_at=mail.expires_at or now + MAIL_MAX_AGE,
    )
    _wake_after_commit()


def mail_request_enqueue(
    *, kind: str, email: str, meta: RequestMeta, payload: dict[str, Any] | None = None
) -> None:
    """Queue "mail a link to ``email`` if it has an account": the same single write for every
    address. ``payload`` must hold no secret (it is the request's own data)."""
    now = timezone.now()
    QueuedMail.objects.create(
        kind=QueuedMailKind(kind),
        recipient=email,
        payload={"ip": meta.ip, "userAgent": meta.user_agent, **(payload or {})},
        created_at=now,
        next_attempt_at=now,
        expires_at=now + REQUEST_MAX_AGE,
    )
    _wake_after_commit()


# --- Delivery -----------------------------------------------------------------------------------


def _send(row: QueuedMail) -> str | None:
    """Send a rendered row; None when the backend took it, else a short reason (no secret)."""
    message = EmailMultiAlternatives(
        row.subject, row.text_body, settings.DEFAULT_FROM_EMAIL, [row.recipient]
    )
    message.attach_alternative(row.html_body, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}"
    return None


def _resolve(row: QueuedMail, now: datetime) -> QueuedMail | None:
    """Turn an address request into a rendered mail (or drop it), in one transaction."""
    resolver = _RESOLVERS.get(row.kind)
    if resolver is None:
        raise RuntimeError(f"no resolver registered for queued mail kind {row.kind!r}")
    payload = dict(row.payload)
    meta = RequestMeta(ip=payload.pop("ip", None), user_agent=payload.pop("userAgent", "") or "")
    with transaction.atomic():
        mail = resolver(email=row.recipient, meta=meta, payload=payload)
        if mail is None:
            QueuedMail.objects.filter(pk=row.pk).delete()
            return None
        expires_at = mail.expires_at or now + MAIL_MAX_AGE
        QueuedMail.objects.filter(pk=row.pk).update(
            kind=QueuedMailKind.MAIL,
            recipient=mail.to,
            payload={},
            subject=mail.subject,
            text_body=mail.text,
            html_body=mail.html,
            expires_at=expires_at,
        )
    row.kind, row.recipient, row.payload = QueuedMailKind.MAIL, mail.to, {}
    row.subject, row.text_body, row.html_body = mail.subject, mail.text, mail.html
    row.expires_at = expires_at
    return row


def mail_queue_deliver(
    *, message_id: object, now: datetime | None = None, ignore_backoff: bool = False
) -> bool | None:
    """Try one queued row once. True: sent (and deleted); False: failed (recorded, retried
    later, or dropped once expired); None: nothing sent (not due, claimed elsewhere, gone, or
    an address request that named no account)."""
    current = now or timezone.now()
    row = QueuedMail.objects.filter(pk=message_id).first()
    if row is None:
        return None
    due = Q() if ignore_backoff else Q(next_attempt_at__lte=current)
    # The conditional UPDATE is the claim: of two concurrent deliverers, one sends.
    claimed = QueuedMail.objects.filter(due, pk=row.pk, attempts=row.attempts).update(
        attempts=F("attempts") + 1, next_attempt_at=current + timedelta(seconds=CLAIM_SECONDS)
    )
    if claimed != 1:
        return None
    attempts = row.attempts + 1
    if row.kind != QueuedMailKind.MAIL:
        resolved = _resolve(row, current)
        if resolved is None:
            return None
        row = resolved
    error = _send(row)
    if error is None:
        QueuedMail.objects.filter(pk=row.pk).delete()  # delivered: the link leaves our hands
        return True
    retry_at = timezone.now() + backoff(attempts)
    if retry_at >= row.expires_at:
        QueuedMail.objects.filter(pk=row.pk).delete()
        logger.error("mail queue: dropped a mail after %d failed attempts: %s", attempts, error)
        return False
    QueuedMail.objects.filter(pk=row.pk).update(
        last_error=error[:_ERROR_MAX], next_attempt_at=retry_at
    )
    logger.warning("mail queue: attempt %d failed (%s); retrying at %s", attempts, error, retry_at)
    return False


@dataclass(frozen=True)
class MailFlushReport:
    delivered: int
    failed: int
    skipped: int
    pending: int
    expired: int


def mail_queue_flush(
    *, now: datetime | None = None, ignore_backoff: bool = False, limit: int = 500
) -> MailFlushReport:
    """Deliver the rows that are due (every row with ``ignore_backoff``), oldest first, and
    drop rows past their expiry."""
    current = now or timezone.now()
    expired, _ = QueuedMail.objects.filter(expires_at__lte=current).delete()
    if expired:
        logger.error("mail queue: %d mail(s) expired undelivered", expired)
    rows = (
        QueuedMail.objects.all()
        if ignore_backoff
        else QueuedMail.objects.filter(next_attempt_at__lte=current)
    )
    ids = list(rows.order_by("created_at", "id").values_list("id", flat=True)[:limit])
    outcomes = [
        mail_queue_deliver(message_id=pk, now=current, ignore_backoff=ignore_backoff) for pk in ids
    ]
    return MailFlushReport(
        delivered=outcomes.count(True),
        failed=outcomes.count(False),
        skipped=outcomes.count(None),
        pending=QueuedMail.objects.count(),
        expired=expired,
    )


def mail_queue_deliver_now() -> MailFlushReport:
    """Deliver every queued mail now, backoff or not: tests, the shell, an operator."""
    return mail_queue_flush(ignore_backoff=True, limit=10_000)


# --- The per-process deliverer ------------------------------------------------------------------


class _Deliverer:
    """One daemon thread per process that flushes the queue when woken (and, while rows are
    waiting for a retry, every ``RETRY_POLL_SECONDS``). Started lazily, again after a fork."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wake(self) -> None:
        if not settings.MAIL_QUEUE_WORKER:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._wake,), name="mail-queue", daemon=True
                )
                self._thread.start()
        self._wake.set()

    @staticmethod
    def _run(wake: threading.Event) -> None:
        timeout: float | None = None
        while True:
            wake.wait(timeout)
            wake.clear()
            if not settings.MAIL_QUEUE_WORKER:
                return  # switched off (tests): end the thread rather than race anyone
            try:
                report = mail_queue_flush(limit=100)
                timeout = RETRY_POLL_SECONDS if report.pending else None
            # A background thread has no caller to raise to: classify, log (error level
            # reaches Sentry) and keep serving; the rows stay for the next run or the cron.
            except Exception as exc:
                if is_infrastructure_error(exc):
                    logger.warning("mail queue: store unavailable (%s)", type(exc).__name__)
                else:
                    logger.exception("mail queue: delivery run failed")
                timeout = RETRY_POLL_SECONDS
            finally:
                connections.close_all()  # this thread's connections only


_deliverer = _Deliverer()
_request = threading.local()


def _wake_after_commit() -> None:
    transaction.on_commit(_committed, robust=True)


def _committed() -> None:
    # Inside a web request, wait until the response has been sent: the caller's timing must
    # not include any of the delivery work, not even its competition for the interpreter.
    if getattr(_request, "active", False):
        _request.pending = True
    else:
        _deliverer.wake()


def _request_started(**_: Any) -> None:
    _request.active, _request.pending = True, False


def _request_finished(**_: Any) -> None:
    pending = getattr(_request, "pending", False)
    _request.active, _request.pending = False, False
    if pending:
        _deliverer.wake()


def connect_signals() -> None:
    """Called from ``AccountsConfig.ready()``."""
    request_started.connect(_request_started, dispatch_uid="mana-auth-mailqueue-started")
    request_finished.connect(_request_finished, dispatch_uid="mana-auth-mailqueue-finished")
