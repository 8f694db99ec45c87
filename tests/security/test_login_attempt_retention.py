"""Login attempts are kept ``LOGIN_ATTEMPT_RETENTION_DAYS`` (90), then deleted by the cron job.

They hold email keys (of unknown addresses too), IPs and user agents, and were never deleted.
``manage.py flush_outbox`` — the command operators already run from cron — now deletes the
expired ones, in batches; the lockout, whose state is ``LoginThrottle``, is not touched.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from security import attempts
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
WRONG = "definitely-not-it-1"


def login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


def flush() -> str:
    out = io.StringIO()
    call_command("flush_outbox", stdout=out)
    return out.getvalue()


def backdate(rows, days: int, hours: int = 0) -> None:
    rows.update(created_at=timezone.now() - timedelta(days=days, hours=hours))


def test_attempts_past_the_retention_go_recent_ones_stay(api_client, user_factory):
    user = user_factory(email="owner@example.com")
    assert login(api_client, user.email, WRONG).status_code == 401
    assert login(api_client, "nobody@example.com", WRONG).status_code == 401
    assert login(api_client, user.email).status_code == 200
    old_known = LoginAttempt.objects.filter(user=user, success=False)
    old_unknown = LoginAttempt.objects.filter(email_key="nobody@example.com")
    assert old_unknown.get().ip_address and old_unknown.get().user is None
    backdate(old_known, 90, hours=1)
    backdate(old_unknown, 400)
    kept = LoginAttempt.objects.get(user=user, success=True)
    backdate(LoginAttempt.objects.filter(pk=kept.pk), 89)
    events = SecurityEvent.objects.count()

    assert "login attempts: purged=2" in flush()
    assert list(LoginAttempt.objects.values_list("pk", flat=True)) == [kept.pk]
    assert SecurityEvent.objects.count() == events  # the audit trail is not this purge's
    assert "login attempts: purged=0" in flush()


def test_the_purge_never_touches_the_lockout(api_client, user_factory):
    user = user_factory()
    assert [login(api_client, user.email, WRONG).status_code for _ in range(5)] == [401] * 5
    throttle = LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}")
    backdate(LoginAttempt.objects.all(), 100)
    assert "login attempts: purged=5" in flush()
    assert not LoginAttempt.objects.exists()
    after = LoginThrottle.objects.get(scope=throttle.scope)
    assert (after.failures, after.locked_until) == (5, throttle.locked_until)
    response = login(APIClient(), user.email)
    assert response.status_code == 429 and response.json()["code"] == "ACCOUNT_LOCKED"


def test_the_purge_goes_in_batches(api_client, monkeypatch):
    for _ in range(5):
        login(api_client, "nobody@example.com", WRONG)
    backdate(LoginAttempt.objects.all(), 91)
    monkeypatch.setattr(attempts, "PURGE_BATCH_SIZE", 2)
    with CaptureQueriesContext(connection) as queries:
        assert attempts.purge_expired() == 5
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert not LoginAttempt.objects.exists()


def test_the_retention_is_a_setting_and_zero_keeps_everything(api_client, settings):
    login(api_client, "nobody@example.com", WRONG)
    backdate(LoginAttempt.objects.all(), 10)
    settings.LOGIN_ATTEMPT_RETENTION_DAYS = 0
    assert "login attempts: purged=0" in flush()
    settings.LOGIN_ATTEMPT_RETENTION_DAYS = 11
    assert "login attempts: purged=0" in flush()
    settings.LOGIN_ATTEMPT_RETENTION_DAYS = 9
    assert "login attempts: purged=1" in flush()
    assert not LoginAttempt.objects.exists()
