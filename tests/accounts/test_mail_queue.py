"""The mail queue (issue 15, point 7): same work for known and unknown addresses, delivery
after the response, retries, purging, and a mail outage that nobody can see."""

from __future__ import annotations

import io
import re
import socket
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.mailqueue import mail_queue_deliver, mail_queue_deliver_now, mail_queue_flush
from accounts.models import OneTimeToken, QueuedMail
from security.models import SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
FORGOT = "/api/v1/auth/forgot-password"
MAGIC = "/api/v1/auth/magic-link"
RESEND = "/api/v1/auth/resend-verification"
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"s\d+_x\d+\"|\b\d+(?:\.\d+)?\b")  # savepoint ids too


def statements(client: APIClient, path: str, email: str) -> list[str]:
    """The SQL a request runs, literals masked: the shape of its database work."""
    with CaptureQueriesContext(connection) as captured:
        response = client.post(path, {"email": email}, format="json")
    assert response.status_code == 202, response.content
    return [_LITERAL.sub("?", query["sql"]) for query in captured.captured_queries]


@pytest.fixture
def smtp_down(settings):
    """An SMTP backend pointed at a port nobody listens on: every send is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 2
    return settings


@pytest.mark.parametrize(
    ("path", "verified"), [(FORGOT, True), (MAGIC, True), (RESEND, False)], ids=str
)
def test_known_and_unknown_addresses_cost_the_same_statements(
    api_client, user_factory, mailoutbox, path, verified
):
    user = user_factory(verified=verified)
    statements(api_client, path, "warm-up@example.com")
    known = statements(api_client, path, user.email)
    unknown = statements(api_client, path, "nobody@example.com")
    assert known == unknown
    assert mailoutbox.sent_so_far() == []  # nothing was sent inside the request
    assert QueuedMail.objects.count() == 3
    assert [mail.to for mail in mailoutbox] == [[user.email]]  # the known one, once delivered
    assert not QueuedMail.objects.exists()  # delivered rows and empty requests are gone


def test_the_known_address_gets_its_link_and_event_only_when_delivered(
    api_client, user_factory, mailoutbox
):
    user = user_factory()
    api_client.post(FORGOT, {"email": user.email}, format="json")
    assert not OneTimeToken.objects.filter(user=user).exists()
    mail_queue_deliver_now()
    assert OneTimeToken.objects.filter(user=user, purpose="reset_password").count() == 1
    event = SecurityEvent.objects.get(user=user, type="PASSWORD_RESET_REQUESTED")
    assert event.ip_address == "127.0.0.1"  # the request's, carried by the queued row
    assert "/reset-password?token=" in mailoutbox[0].body


def test_register_mails_are_queued_for_new_and_existing_addresses(
    api_client, user_factory, mailoutbox
):
    owner = user_factory()
    for email in (owner.email, "new@example.com"):
        response = api_client.post(
            "/api/v1/auth/register",
            {"email": email, "password": "a perfectly fine passphrase"},
            format="json",
        )
        assert response.status_code == 201
    assert mailoutbox.sent_so_far() == []
    assert sorted(mail.to[0] for mail in mailoutbox) == sorted([owner.email, "new@example.com"])


def test_a_mail_outage_is_invisible_and_the_mail_is_retried(
    api_client, user_factory, mailoutbox, smtp_down, caplog
):
    user = user_factory()
    for path in (FORGOT, MAGIC):
        response = api_client.post(path, {"email": user.email}, format="json")
        assert response.status_code == 202 and response.json() == {"status": "accepted"}
    report = mail_queue_flush()
    assert (report.delivered, report.failed, report.pending) == (0, 2, 2)
    rows = list(QueuedMail.objects.all())
    assert all(row.kind == "mail" and row.attempts == 1 for row in rows)
    assert all(row.last_error == "ConnectionRefusedError" for row in rows)
    assert all(row.next_attempt_at > timezone.now() for row in rows)  # backing off
    assert "retrying" in caplog.text
    assert mail_queue_flush().failed == 0  # not due yet: left alone
    smtp_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with freeze_time(timezone.now() + timedelta(minutes=2)):
        assert mail_queue_flush().delivered == 2
    assert sorted(mail.subject for mail in mailoutbox) == [
        "Reset your password",
        "Your sign-in link",
    ]
    assert not QueuedMail.objects.exists()


def test_a_lockout_with_the_mail_server_down_still_answers_like_any_failure(
    api_client, user_factory, smtp_down
):
    user = user_factory()
    answers = [
        api_client.post(
            "/api/v1/auth/login",
            {"email": user.email, "password": "wrong-password-1"},
            format="json",
        ).status_code
        for _ in range(5)
    ]
    assert answers == [401] * 5  # the fifth locks and queues the notice; no 503
    assert QueuedMail.objects.filter(recipient=user.email, kind="mail").count() == 1


def test_a_mail_that_cannot_be_delivered_before_its_link_expires_is_dropped(
    api_client, user_factory, mailoutbox, smtp_down, caplog
):
    user = user_factory()
    api_client.post(MAGIC, {"email": user.email}, format="json")  # a 15-minute link
    for minutes in (0, 2, 5, 10):
        with freeze_time(timezone.now() + timedelta(minutes=minutes)):
            mail_queue_flush()
    assert not QueuedMail.objects.exists()
    assert "dropped a mail" in caplog.text
    smtp_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mailoutbox == []


def test_rows_past_their_expiry_are_dropped_by_the_flush(api_client, mailoutbox):
    api_client.post(FORGOT, {"email": "someone@example.com"}, format="json")
    with freeze_time(timezone.now() + timedelta(days=2)):
        report = mail_queue_flush()
    assert report.expired == 1 and not QueuedMail.objects.exists()


def test_a_claimed_row_is_not_sent_twice(api_client, user_factory, mailoutbox):
    user = user_factory()
    api_client.post(FORGOT, {"email": user.email}, format="json")
    row = QueuedMail.objects.get()
    # Another process claimed it a moment ago (attempts moved on, due time pushed out).
    QueuedMail.objects.filter(pk=row.pk).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=120)
    )
    assert mail_queue_deliver(message_id=row.pk) is None
    assert mail_queue_deliver(message_id=row.pk, now=timezone.now()) is None
    assert mailoutbox.sent_so_far() == []


def test_queued_mail_is_not_in_the_admin(user_factory):
    staff = user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")
    client = Client()
    client.force_login(staff)
    from django.contrib import admin

    from accounts.models import QueuedMail as Model

    assert Model not in admin.site._registry


def test_flush_outbox_delivers_the_mail_queue_too(api_client, user_factory, mailoutbox):
    user = user_factory()
    api_client.post(FORGOT, {"email": user.email}, format="json")
    out = io.StringIO()
    call_command("flush_outbox", stdout=out)
    assert "mail: delivered=1 failed=0 skipped=0 pending=0 expired=0" in out.getvalue()
    assert len(mailoutbox) == 1


def test_deleting_the_account_drops_its_queued_mail(auth_client, mailoutbox):
    client = auth_client()
    client.post(FORGOT, {"email": client.user.email}, format="json")
    assert QueuedMail.objects.count() == 1
    response = client.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert not QueuedMail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_background_deliverer_sends_after_the_response(user_factory, settings, mailoutbox):
    settings.MAIL_QUEUE_WORKER = True
    user = user_factory()
    response = Client().post(FORGOT, {"email": user.email}, content_type="application/json")
    assert response.status_code == 202
    deadline = time.monotonic() + 20
    while not mailoutbox.sent_so_far() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [mail.to for mail in mailoutbox.sent_so_far()] == [[user.email]], list(
        QueuedMail.objects.values("kind", "attempts", "last_error", "next_attempt_at")
    )
    # The deliverer deletes the row just after sending: give it the moment that takes.
    while QueuedMail.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not QueuedMail.objects.exists()
    settings.MAIL_QUEUE_WORKER = False
