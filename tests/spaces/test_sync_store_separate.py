"""The sync store on its own PostgreSQL database (``SYNC_DATABASE_URL``): singletons land
there, idempotently, and its failures never abort sign-up or poison the main transaction."""

from __future__ import annotations

import logging

import pytest
from django.db import connections

from accounts.models import User
from security.models import SecurityEvent
from spaces.models import Space
from spaces.routers import sync_alias
from spaces.sync_store.models import SyncChange
from tests.conftest import register_through_api
from tests.spaces.conftest import SYNC_DATABASES

pytestmark = [
    pytest.mark.usefixtures("separate_sync_store"),
    pytest.mark.django_db(transaction=True, databases=SYNC_DATABASES),
]


def _verified(user: User) -> User:
    User.objects.filter(pk=user.pk).update(email_verified_at=user.created_at)
    return User.objects.get(pk=user.pk)


def _main_database_rows() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT to_regclass('sync_changes') IS NOT NULL")
        (exists,) = cursor.fetchone()
        if not exists:
            return 0
        cursor.execute("SELECT count(*) FROM sync_changes")
        return cursor.fetchone()[0]


def test_the_sync_alias_is_a_different_database(separate_sync_store):
    assert sync_alias() == "sync"
    assert connections["sync"].settings_dict["NAME"] == separate_sync_store
    assert connections["sync"].settings_dict["NAME"] != connections["default"].settings_dict["NAME"]
    with connections["sync"].cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone() == (separate_sync_store,)
        # The router kept the main app's tables off the sync store.
        cursor.execute("SELECT to_regclass('spaces_space') IS NULL, to_regclass('accounts_user')")
        assert cursor.fetchone() == (True, None)


def test_singletons_land_in_the_sync_database_and_are_idempotent(api_client, auth_client):
    # The sign-up commits: the hook that inserts the singletons runs for real.
    user = register_through_api(api_client, "split@example.com")
    personal = Space.objects.get(created_by=user, type="personal")
    on_sync = SyncChange.objects.using("sync")
    (context,) = on_sync.filter(table_name="userContext", user_id=str(user.id))
    assert (context.origin, context.client_id) == ("system", "system:bootstrap")
    assert on_sync.filter(table_name="kontextDoc", space_id=str(personal.id)).count() == 1
    assert _main_database_rows() == 0
    client = auth_client(_verified(user))
    for _ in range(2):
        response = client.post("/api/v1/me/bootstrap-singletons")
        assert response.status_code == 200
        assert response.json() == {
            "ok": True,
            "bootstrapped": {"userContext": False, "spaces": {str(personal.id): False}},
        }
    assert on_sync.count() == 2
    created = client.post("/api/v1/spaces", {"name": "Club", "type": "club"}, format="json")
    assert on_sync.filter(table_name="kontextDoc", space_id=created.json()["id"]).count() == 1


def test_bootstrap_endpoint_fills_in_what_sign_up_missed(api_client, auth_client):
    user = _verified(register_through_api(api_client, "later@example.com"))
    SyncChange.objects.using("sync").all().delete()
    body = auth_client(user).post("/api/v1/me/bootstrap-singletons").json()
    assert body["bootstrapped"]["userContext"] is True
    assert list(body["bootstrapped"]["spaces"].values()) == [True]
    assert SyncChange.objects.using("sync").count() == 2


def test_unreachable_sync_store_is_logged_and_sign_up_succeeds(
    api_client, sync_store_unreachable, caplog
):
    with caplog.at_level(logging.ERROR, logger="mana_auth.spaces"):
        user = register_through_api(api_client, "resilient@example.com")
    assert Space.objects.filter(created_by=user, type="personal").exists()
    assert SecurityEvent.objects.filter(type="REGISTER", user=user).exists()
    messages = [record.getMessage() for record in caplog.records]
    assert any("singleton bootstrap failed (OperationalError)" in m for m in messages), messages


def test_missing_sync_table_is_logged_and_sign_up_succeeds(api_client, sync_table_missing, caplog):
    with caplog.at_level(logging.ERROR, logger="mana_auth.spaces"):
        user = register_through_api(api_client, "drift@example.com")
    assert Space.objects.filter(created_by=user, type="personal").exists()
    assert any("singleton bootstrap failed" in r.getMessage() for r in caplog.records)


def test_bootstrap_endpoint_reports_an_unavailable_sync_store(
    api_client, auth_client, sync_store_unreachable
):
    client = auth_client()
    response = client.post("/api/v1/me/bootstrap-singletons")
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert client.get("/api/v1/spaces").status_code == 200


def test_space_creation_survives_a_sync_store_outage(auth_client, sync_table_missing):
    client = auth_client()
    response = client.post("/api/v1/spaces", {"name": "Team", "type": "team"}, format="json")
    assert response.status_code == 201
    assert Space.objects.filter(id=response.json()["id"]).exists()
