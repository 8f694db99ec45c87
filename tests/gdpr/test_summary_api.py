"""GET /api/v1/me/data: everything stored about the caller, at a glance, without secrets."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Kind
from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from spaces.models import Membership, Space, SpaceRole
from spaces.services.spaces import space_create
from spaces.sync_store.models import SyncChange
from tests.gdpr.conftest import fill_missing, walk_registry

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/data"


def test_summary_reports_every_kind_of_data(rich_user):
    response = rich_user.client.get(URL)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    user = rich_user.user
    assert body["profile"]["userId"] == str(user.pk)
    assert body["profile"]["email"] == user.email
    assert body["sessions"]["activeCount"] == 2 == len(body["sessions"]["active"])
    assert body["passkeys"]["count"] == 1 and body["passkeys"]["items"][0]["name"] == "Laptop"
    assert body["secondFactors"] == {
        "authenticatorAppEnabled": True,
        "authenticatorAppConfirmedAt": body["secondFactors"]["authenticatorAppConfirmedAt"],
        "backupCodesRemaining": 10,
    }
    assert body["encryptionVault"]["vaultExists"] is True
    assert body["encryptionVault"]["hasRecoveryWrap"] is True
    spaces = {item["spaceId"]: item for item in body["spaces"]}
    assert body["spaces"][0]["type"] == "personal"
    assert spaces[str(rich_user.team.id)]["deletedWithYourAccount"] is True
    assert spaces[str(rich_user.team.id)]["memberCount"] == 2
    assert spaces[str(rich_user.shared.id)]["deletedWithYourAccount"] is False
    assert spaces[str(rich_user.shared.id)]["ownerCount"] == 2
    assert spaces[str(rich_user.joined.id)]["yourRole"] == "member"
    assert body["invitations"]["sentTotal"] == 1 and body["invitations"]["sentPending"] == 1
    (received,) = body["invitations"]["receivedPending"]
    assert received["spaceName"] == "Invite me" and received["status"] == "pending"
    assert body["apiKeys"]["count"] == 1 and body["apiKeys"]["activeCount"] == 1
    assert body["apiKeys"]["items"][0]["visiblePrefix"].startswith("sk_live_")
    assert body["securityEvents"]["count"] == SecurityEvent.objects.filter(user=user).count()
    assert body["personaData"]["records"]["persona"] == 1
    assert body["syncedAppData"] == {
        "available": True,
        "totalRecords": SyncChange.objects.filter(user_id=str(user.pk)).count(),
        "recordsByAppAndTable": {"kontext": {"kontextDoc": 3}, "profile": {"userContext": 1}},
    }


def test_summary_contains_no_secret(rich_user):
    text = json.dumps(rich_user.client.get(URL).json())
    leaked = [secret[:12] for secret in rich_user.secrets if secret in text]
    assert not leaked


def test_summary_of_a_persona_shows_the_persona(user_factory, auth_client):
    persona = user_factory(kind=Kind.PERSONA)
    fill_missing(persona, walk_registry(), app_label="personas")
    body = auth_client(persona).get(URL).json()["personaData"]
    assert body["isPersona"] is True
    assert body["persona"]["userId"] == str(persona.pk)
    assert set(body["records"]) >= {"persona"}
    assert all(count >= 1 for count in body["records"].values())


def test_summary_of_a_fresh_account_is_nearly_empty(auth_client):
    client = auth_client()
    body = client.get(URL).json()
    assert body["passkeys"] == {"count": 0, "items": []}
    assert body["secondFactors"]["authenticatorAppEnabled"] is False
    assert body["encryptionVault"]["vaultExists"] is False
    assert [s["type"] for s in body["spaces"]] == ["personal"]
    assert body["apiKeys"]["count"] == 0
    assert body["personaData"]["isPersona"] is False
    assert body["personaData"]["persona"] is None


def test_summary_needs_authentication(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_a_broken_sync_store_makes_its_section_unavailable_not_the_summary(auth_client):
    client = auth_client()
    # Schema drift in the sync store (its table gone): the section says so; the rest answers.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sync_changes RENAME TO sync_changes_away")
    response = client.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["syncedAppData"] == {
        "available": False,
        "totalRecords": None,
        "recordsByAppAndTable": None,
    }
    assert body["profile"]["userId"] == str(client.user.pk)
    # The failed sync query did not poison the main transaction.
    assert Space.objects.filter(created_by=client.user).exists()


def _summary_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_summary_queries_do_not_grow_with_the_number_of_spaces(auth_client, user_factory):
    client = auth_client()
    friend = user_factory()
    meta = RequestMeta()
    space_create(user=client.user, name="One", type="team", meta=meta)
    one = _summary_queries(client)
    for index in range(5):
        space = space_create(user=client.user, name=f"Team {index}", type="team", meta=meta)
        Membership.objects.create(space=space, user=friend, role=SpaceRole.MEMBER)
    assert _summary_queries(client) == one
    assert one <= 25


def test_openapi_documents_the_gdpr_endpoints(api_client):
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    summary = paths["/api/v1/me/data"]["get"]["responses"]["200"]["content"]["application/json"]
    assert summary["schema"]["$ref"].endswith("/GdprSummaryOutput")
    delete = paths["/api/v1/me/data"]["delete"]
    assert delete["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/GdprDeleteInputRequest"
    )
    assert "200" in paths["/api/v1/me/data/export"]["get"]["responses"]
