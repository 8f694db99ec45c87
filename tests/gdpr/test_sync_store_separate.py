"""GDPR with the sync store on its own database: its outage never breaks the summary or the
deletion, and the purge of the user's rows is retried until it lands."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from accounts.models import OutboxMessage, User
from spaces.sync_store.models import SyncChange
from tests.conftest import PASSWORD
from tests.spaces.conftest import SYNC_DATABASES, separate_sync_store  # noqa: F401

pytestmark = [
    pytest.mark.usefixtures("separate_sync_store"),
    pytest.mark.django_db(transaction=True, databases=SYNC_DATABASES),
]


@contextmanager
def sync_store_down() -> Iterator[None]:
    """Point the ``sync`` alias at a closed port for the block."""
    sync_settings = connections["sync"].settings_dict
    saved = {key: sync_settings[key] for key in ("HOST", "PORT")}
    connections["sync"].close()
    sync_settings.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connections["sync"].close()
        sync_settings.update(saved)


def _signed_up(api_client, email: str) -> User:
    response = api_client.post(
        "/api/v1/auth/register", {"email": email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    user = User.objects.get_by_email(email)
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    login = api_client.post(
        "/api/v1/auth/login", {"email": email, "password": PASSWORD}, format="json"
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['accessToken']}")
    return user


def test_summary_counts_rows_in_the_sync_database_and_survives_its_outage(api_client):
    user = _signed_up(api_client, "counted@example.com")
    body = api_client.get("/api/v1/me/data").json()
    assert body["syncedAppData"]["available"] is True
    assert body["syncedAppData"]["totalRecords"] == 2
    with sync_store_down():
        response = api_client.get("/api/v1/me/data")
    assert response.status_code == 200
    assert response.json()["syncedAppData"]["available"] is False
    assert response.json()["profile"]["userId"] == str(user.pk)


def test_deletion_during_a_sync_outage_succeeds_and_flush_outbox_purges_later(api_client):
    user = _signed_up(api_client, "purged@example.com")
    on_sync = SyncChange.objects.using("sync")
    assert on_sync.filter(user_id=str(user.pk)).count() == 2
    with sync_store_down():
        response = api_client.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    notice = OutboxMessage.objects.get(user_id=user.pk, target="sync_store")
    assert notice.delivered_at is None
    assert notice.last_error == "sync store unavailable (OperationalError)"
    assert on_sync.filter(user_id=str(user.pk)).count() == 2
    call_command("flush_outbox", "--all", stdout=io.StringIO())
    notice.refresh_from_db()
    assert notice.delivered_at is not None
    assert not on_sync.filter(user_id=str(user.pk)).exists()
