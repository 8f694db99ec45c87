"""Sync-store singletons: inserted at sign-up and Space creation, idempotent, reconciled by
``POST /me/bootstrap-singletons``; a sync-store failure never aborts sign-up."""

from __future__ import annotations

import pytest

from spaces.models import Space
from spaces.routers import sync_alias
from spaces.singletons import BOOTSTRAP_ACTOR
from spaces.sync_store.models import SyncChange
from tests.conftest import PASSWORD, register_through_api
from tests.spaces.conftest import SYNC_PRECONFIGURED

# With ``SYNC_DATABASE_URL`` set for the session, these run against its test database too.
DATABASES = ["default", "sync"] if SYNC_PRECONFIGURED else ["default"]


def _rows(**filters) -> list[SyncChange]:
    return list(SyncChange.objects.using(sync_alias()).filter(**filters).order_by("id"))


# --- Shared database (the default configuration) ----------------------------------------------


@pytest.mark.django_db(databases=DATABASES)
def test_sign_up_inserts_user_context_and_personal_kontext_doc(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = register_through_api(api_client, "fresh@example.com")
    personal = Space.objects.get(created_by=user, type="personal")
    (context,) = _rows(table_name="userContext", user_id=str(user.id))
    assert (context.app_id, context.record_id, context.op) == ("profile", "singleton", "insert")
    assert (context.origin, context.client_id) == ("system", "system:bootstrap")
    assert context.space_id is None
    assert context.actor == BOOTSTRAP_ACTOR
    assert context.data["userId"] == str(user.id)
    assert context.data["interview"] == {"answeredIds": [], "skippedIds": []}
    assert set(context.field_meta) == set(context.data) - {"id"}
    (doc,) = _rows(table_name="kontextDoc", space_id=str(personal.id))
    assert (doc.app_id, doc.user_id, doc.origin) == ("kontext", str(user.id), "system")
    assert doc.record_id == doc.data["id"]
    assert doc.data["content"] == ""
    assert set(doc.field_meta) == {"content"}


@pytest.mark.django_db(databases=DATABASES)
def test_space_creation_inserts_its_kontext_doc(auth_client, django_capture_on_commit_callbacks):
    client = auth_client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/spaces", {"name": "Fam", "type": "family"}, format="json")
    space_id = response.json()["id"]
    (doc,) = _rows(table_name="kontextDoc", space_id=space_id)
    assert doc.user_id == str(client.user.id)
    assert doc.client_id == "system:bootstrap"


@pytest.mark.django_db(databases=DATABASES)
def test_rolled_back_sign_up_leaves_no_sync_rows(api_client, django_capture_on_commit_callbacks):
    from spaces.services import spaces as space_services

    original = space_services.personal_space_ensure

    def fail_after(*, user):
        original(user=user)
        from django.db import OperationalError

        raise OperationalError("lost")

    space_services.personal_space_ensure = fail_after
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                "/api/v1/auth/register",
                {"email": "ghost@example.com", "password": PASSWORD},
                format="json",
            )
    finally:
        space_services.personal_space_ensure = original
    assert response.status_code == 503
    assert not SyncChange.objects.using(sync_alias()).exists()


@pytest.mark.django_db(databases=DATABASES)
def test_bootstrap_endpoint_is_idempotent(auth_client, space_factory):
    client = auth_client()  # no on-commit callbacks ran: nothing is in the sync store yet
    shared = space_factory(client.user, name="Shared")
    personal = Space.objects.get(created_by=client.user, type="personal")
    first = client.post("/api/v1/me/bootstrap-singletons")
    assert first.status_code == 200
    assert first.json() == {
        "ok": True,
        "bootstrapped": {
            "userContext": True,
            "spaces": {str(personal.id): True, str(shared.id): True},
        },
    }
    second = client.post("/api/v1/me/bootstrap-singletons")
    assert second.json() == {
        "ok": True,
        "bootstrapped": {
            "userContext": False,
            "spaces": {str(personal.id): False, str(shared.id): False},
        },
    }
    assert len(_rows(table_name="userContext")) == 1
    assert len(_rows(table_name="kontextDoc")) == 2


@pytest.mark.django_db(databases=DATABASES)
def test_bootstrap_skips_a_kontext_doc_written_by_another_member(auth_client, team):
    auth_client(team.owner).post("/api/v1/me/bootstrap-singletons")
    body = auth_client(team.member).post("/api/v1/me/bootstrap-singletons").json()
    assert body["bootstrapped"]["spaces"][str(team.space.id)] is False
    (doc,) = _rows(table_name="kontextDoc", space_id=str(team.space.id))
    assert doc.user_id == str(team.owner.id)


@pytest.mark.django_db(databases=DATABASES)
def test_bootstrap_needs_sign_in(api_client):
    response = api_client.post("/api/v1/me/bootstrap-singletons")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.django_db(databases=DATABASES)
def test_same_database_failure_does_not_poison_the_open_transaction(
    api_client, django_capture_on_commit_callbacks, caplog
):
    from django.db import connection

    if SYNC_PRECONFIGURED:
        pytest.skip("the sync store is not in the main database in this session")
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("ALTER TABLE sync_changes RENAME TO sync_changes_away")
    with django_capture_on_commit_callbacks(execute=True):
        user = register_through_api(api_client, "samedb@example.com")
    # The failed insert ran in a savepoint: the surrounding transaction is still usable.
    assert Space.objects.filter(created_by=user, type="personal").exists()
    assert any("singleton bootstrap failed" in r.getMessage() for r in caplog.records)
