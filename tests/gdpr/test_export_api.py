"""GET /api/v1/me/data/export: the complete document as a file (Art. 20), without secrets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.utils import timezone

from accounts import gdpr
from mana_auth import gdpr as gdpr_registry
from security.models import SecurityEvent

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/data/export"
# Values that are free-form data (JSON fields, maps keyed by names), not field names.
FREE_FORM = {
    "details",
    "metadata",
    "moduleMix",
    "recordsByAppAndTable",
    "coverage",
    "notExported",
}
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _keys(value: Any, path: str = "") -> list[str]:
    """Every key of the document outside the free-form values, with its path."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(f"{path}.{key}")
            if key not in FREE_FORM:
                found += _keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found += _keys(item, f"{path}[]")
    return found


def test_export_is_a_json_attachment_and_is_recorded(rich_user):
    response = rich_user.client.get(URL)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    today = timezone.now().strftime("%Y-%m-%d")
    assert response["Content-Disposition"] == f'attachment; filename="mana-data-{today}.json"'
    assert response["Cache-Control"] == "no-store"
    document = json.loads(response.content)
    assert document["exportFormat"] == gdpr_registry.EXPORT_FORMAT
    assert document["accountId"] == str(rich_user.user.pk)
    event = SecurityEvent.objects.get(user=rich_user.user, type="DATA_EXPORTED")
    assert event.metadata == {"byAdmin": False}
    # The export includes its own audit row.
    assert str(event.id) in {e["eventId"] for e in document["securityEvents"]}


def test_export_content_for_a_user_with_data_in_every_app(rich_user):
    document = rich_user.client.get(URL).json()
    user = rich_user.user
    assert document["profile"]["email"] == user.email
    assert document["profile"]["operatorGroups"] == ["support"]
    assert len(document["sessions"]) == 2
    assert document["passkeys"][0]["credentialId"] == "Y3JlZGVudGlhbC1pZC1vZi1yaWNo"
    assert document["secondFactors"]["authenticatorApp"]["confirmed"] is True
    assert document["secondFactors"]["backupCodes"]["remainingUnusedCodes"] == 10
    assert document["apiKeys"][0]["name"] == "CI"
    vault = document["encryptionVault"]
    assert vault["vaultExists"] and vault["hasRecoveryWrap"]
    assert [row["action"] for row in vault["auditTrail"]] == ["recovery_set", "init"]
    spaces = {space["spaceId"]: space for space in document["spaces"]}
    team = spaces[str(rich_user.team.id)]
    assert team["deletedWithYourAccount"] is True
    assert {m["email"] for m in team["members"]} == {user.email, rich_user.friend.email}
    assert [i["invitedEmail"] for i in team["invitations"]] == ["guest@example.com"]
    assert team["moduleAccessOverrides"][0]["accessLevel"] == "read"
    assert team["credentials"][0]["name"] == "Mail"
    assert "members" not in spaces[str(rich_user.joined.id)]  # not theirs to export
    assert spaces[str(rich_user.shared.id)]["yourRole"] == "owner"
    assert document["invitations"]["receivedByYou"][0]["spaceName"] == "Invite me"
    attempts = [(a["method"], a["succeeded"]) for a in document["signInAttempts"]]
    assert attempts == [("password", True), ("password", True), ("password", False)]
    types = {event["type"] for event in document["securityEvents"]}
    assert {"REGISTER", "LOGIN_SUCCESS", "LOGIN_FAILURE", "API_KEY_CREATED"} <= types
    assert document["syncedAppData"]["totalRecords"] == 4
    assert "personas.Persona" in gdpr_registry.covered_labels()
    assert document["personas"]["persona"][0]["userId"] == str(user.pk)
    assert document["personas"]["personaAction"]
    assert document["coverage"]["accounts.Session"] == {"sections": ["sessions"], "records": 2}
    assert "accounts.OneTimeToken" in document["notExported"]


def test_export_contains_no_secret(rich_user):
    text = rich_user.client.get(URL).content.decode()
    leaked = [secret[:12] for secret in rich_user.secrets if secret in text]
    assert not leaked, f"secrets in the export: {leaked}"
    for name in ("password", "cookieHash", "tokenHash", "keyHash", "codeHash", "wrappedMk"):
        assert f'"{name}":' not in text
    assert "seedCiphertext" not in text and "ciphertext" not in text


def test_every_key_of_the_export_is_a_descriptive_camel_case_name(rich_user):
    document = rich_user.client.get(URL).json()
    bad = [path for path in _keys(document) if not CAMEL.match(path.rsplit(".", 1)[1])]
    assert not bad, bad
    assert not [p for p in _keys(document) if p.rsplit(".", 1)[1] in ("ip", "ua", "ts", "pk")]


def test_export_needs_authentication(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_export_is_rate_limited_per_user(auth_client, monkeypatch):
    from security import ratelimit

    monkeypatch.setattr(gdpr, "EXPORT_USER", ratelimit.Limit("gdpr-export-user", 2, 3600))
    client = auth_client()
    assert client.get(URL).status_code == 200
    assert client.get(URL).status_code == 200
    response = client.get(URL)
    assert response.status_code == 429 and response.json()["code"] == "RATE_LIMITED"
    assert SecurityEvent.objects.filter(user=client.user, type="DATA_EXPORTED").count() == 2
