"""The outbox to other services: enqueued with the change, tried once after commit, retried by
``flush_outbox``; the user's action never waits for or fails because of another service.

These tests commit for real (``transaction=True``), so the after-commit delivery runs as in
production, against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import outbox
from accounts.models import OutboxMessage, User
from spaces.sync_store.models import SyncChange
from tests.conftest import PASSWORD, register_through_api

pytestmark = pytest.mark.django_db(transaction=True)


def _flush(*args: str) -> str:
    out = io.StringIO()
    call_command("flush_outbox", *args, stdout=out)
    return out.getvalue().strip().splitlines()[0]  # the second line is the mail queue's


def test_sign_up_is_announced_and_a_failed_delivery_is_retried_by_flush_outbox(
    api_client, credits_server, settings, caplog
):
    credits_server.statuses.append(500)
    with caplog.at_level(logging.WARNING, logger="mana_auth.outbox"):
        user = register_through_api(api_client, "new@example.com")
    message = OutboxMessage.objects.get(user_id=user.pk)
    assert (message.target, message.event) == ("credits", "user.created")
    # the first delivery, right after commit, failed and was recorded
    assert message.attempts == 1 and message.delivered_at is None
    assert message.last_error == "HTTP 500"
    assert message.next_attempt_at > timezone.now()
    assert any("HTTP 500" in record.getMessage() for record in caplog.records)
    assert settings.MANA_SERVICE_KEY not in caplog.text
    (first,) = credits_server.received
    assert first["path"] == "/api/v1/internal/events"
    assert first["headers"]["X-Service-Key"] == settings.MANA_SERVICE_KEY
    assert first["headers"]["Idempotency-Key"] == str(message.id)
    assert first["body"]["event"] == "user.created"
    assert first["body"]["data"]["userId"] == str(user.pk)
    assert PASSWORD not in str(first["body"]) and "new@example.com" not in str(first["body"])

    # Not due yet: the backoff holds it back.
    assert _flush() == "delivered=0 failed=0 skipped=0 pending=1 pruned=0"
    assert len(credits_server.received) == 1
    # The backoff has elapsed: delivered, with the same idempotency key.
    OutboxMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert _flush() == "delivered=1 failed=0 skipped=0 pending=0 pruned=0"
    message.refresh_from_db()
    assert message.delivered_at is not None and message.attempts == 2
    assert message.last_error == ""
    assert credits_server.received[1]["headers"]["Idempotency-Key"] == str(message.id)
    assert _flush("--all") == "delivered=0 failed=0 skipped=0 pending=0 pruned=0"


def test_sign_up_succeeds_when_the_credits_service_is_down(api_client, settings, caplog):
    settings.MANA_CREDITS_URL = "http://127.0.0.1:1"
    with caplog.at_level(logging.WARNING, logger="mana_auth.outbox"):
        user = register_through_api(api_client, "down@example.com")
    message = OutboxMessage.objects.get(user_id=user.pk)
    assert message.delivered_at is None and message.attempts == 1
    assert message.last_error.startswith("unreachable")
    assert "failed (attempt 1" in caplog.text
    # flush_outbox keeps trying, and keeps counting
    assert _flush("--all") == "delivered=0 failed=1 skipped=0 pending=1 pruned=0"
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at - timezone.now() > timedelta(seconds=100)


def test_nothing_is_queued_for_credits_while_its_url_is_unset(api_client, settings):
    settings.MANA_CREDITS_URL = ""
    register_through_api(api_client, "quiet@example.com")
    assert not OutboxMessage.objects.exists()


def test_deletion_tells_credits_and_purges_the_sync_store(api_client, credits_server, settings):
    register_through_api(api_client, "leaving@example.com")
    user = User.objects.get_by_email("leaving@example.com")
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    assert SyncChange.objects.filter(user_id=str(user.pk)).count() == 2  # the singletons
    login = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['accessToken']}")
    response = api_client.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    notices = {m.target: m for m in OutboxMessage.objects.filter(user_id=user.pk)}
    assert set(notices) == {"credits", "sync_store"}  # the "created" notice is gone
    assert all(m.event == "user.deleted" and m.delivered_at for m in notices.values())
    assert [r["body"]["event"] for r in credits_server.received] == [
        "user.created",
        "user.deleted",
    ]
    assert credits_server.received[1]["body"]["data"]["userId"] == str(user.pk)
    assert not SyncChange.objects.filter(user_id=str(user.pk)).exists()


def test_a_redirect_is_not_followed_with_the_service_key(api_client, credits_server):
    credits_server.statuses.append(302)
    register_through_api(api_client, "redirect@example.com")
    message = OutboxMessage.objects.get()
    assert message.last_error == "HTTP 302" and message.delivered_at is None
    assert [r["path"] for r in credits_server.received] == ["/api/v1/internal/events"]


def test_flush_leaves_credits_notices_alone_once_its_url_is_unset(
    api_client, credits_server, settings
):
    credits_server.statuses.append(503)
    register_through_api(api_client, "later@example.com")
    settings.MANA_CREDITS_URL = ""
    assert _flush("--all") == "delivered=0 failed=0 skipped=1 pending=1 pruned=0"


def test_flush_prunes_delivered_notices_after_their_retention(api_client, credits_server):
    register_through_api(api_client, "old@example.com")
    OutboxMessage.objects.update(delivered_at=timezone.now() - timedelta(days=31))
    assert _flush() == "delivered=0 failed=0 skipped=0 pending=0 pruned=1"
    assert not OutboxMessage.objects.exists()


def test_backoff_doubles_and_is_capped():
    assert outbox.backoff(1) == timedelta(minutes=1)
    assert outbox.backoff(2) == timedelta(minutes=2)
    assert outbox.backoff(4) == timedelta(minutes=8)
    assert outbox.backoff(50) == timedelta(hours=6)
