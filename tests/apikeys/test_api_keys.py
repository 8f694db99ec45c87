"""API keys: created once, listed without secrets, revoked, validated by other services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import ApiKey, Session
from security.models import SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
SERVICE = {"HTTP_X_SERVICE_KEY": "dev-service-key"}


def create(client, **body):
    payload = {"name": "CI", "scopes": ["profile:read"], **body}
    return client.post("/api/v1/me/api-keys", payload, format="json")


def validate(key, headers=SERVICE):
    return APIClient().post(
        "/api/v1/internal/api-keys/validate", {"key": key}, format="json", **headers
    )


def test_create_shows_the_key_once_and_stores_only_its_hash(auth_client, settings):
    client = auth_client()
    response = create(client, scopes=["profile:read", "spaces:read"])
    assert response.status_code == 201
    body = response.json()
    key = body["key"]
    assert key.startswith("sk_live_") and body["prefix"] in key
    assert len(key.split("_", 3)[3]) >= 43  # 32 random bytes, url-safe (may hold "_")
    assert response["Cache-Control"] == "no-store"
    row = ApiKey.objects.get(id=body["id"])
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    assert row.scopes == ["profile:read", "spaces:read"]
    listing = client.get("/api/v1/me/api-keys").json()["items"]
    assert [item["id"] for item in listing] == [body["id"]]
    assert "key" not in listing[0] and key not in str(listing)
    event = SecurityEvent.objects.get(user=client.user, type="API_KEY_CREATED")
    assert key not in str(event.metadata)


def test_create_requires_recent_authentication(auth_client):
    client = auth_client()
    Session.objects.filter(user=client.user).update(auth_time=timezone.now() - timedelta(hours=1))
    stale = create(client)
    assert stale.status_code == 401 and stale.json()["code"] == "REAUTH_REQUIRED"
    assert not ApiKey.objects.exists()
    wrong = create(client, password="not-my-password-1")
    assert wrong.json()["code"] == "REAUTH_REQUIRED"
    assert create(client, password=PASSWORD).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["admin:all"]},
        {"scopes": []},
        {"name": ""},
        {"expiresAt": "2000-01-01T00:00:00Z"},
    ],
)
def test_create_validates_input(auth_client, body):
    response = create(auth_client(), **body)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert not ApiKey.objects.exists()


def test_validate_answers_for_a_live_key(auth_client):
    client = auth_client()
    key = create(client, scopes=["sync:read"]).json()["key"]
    response = validate(key)
    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "userId": str(client.user.id),
        "scopes": ["sync:read"],
    }
    assert ApiKey.objects.get().last_used_at is not None


def test_revoked_expired_unknown_and_malformed_keys_are_all_just_invalid(auth_client):
    client = auth_client()
    revoked = create(client, name="r").json()
    expiring = create(client, name="e", expiresAt=(timezone.now() + timedelta(hours=1)).isoformat())
    assert client.delete(f"/api/v1/me/api-keys/{revoked['id']}").status_code == 204
    assert SecurityEvent.objects.filter(user=client.user, type="API_KEY_REVOKED").count() == 1
    assert validate(revoked["key"]).json() == {"valid": False}
    with freeze_time(timezone.now() + timedelta(hours=2)):
        assert validate(expiring.json()["key"]).json() == {"valid": False}
    forged = revoked["key"][:-4] + "AAAA"
    for key in (forged, "sk_live_nope", "garbage", "sk_live_" + "x" * 12 + "_" + "y" * 43):
        assert validate(key).json() == {"valid": False}


def test_key_of_a_deleted_user_is_invalid(auth_client):
    client = auth_client()
    key = create(client).json()["key"]
    assert (
        client.delete("/api/v1/auth/account", {"password": PASSWORD}, format="json").status_code
        == 204
    )
    assert validate(key).json() == {"valid": False}
    assert not ApiKey.objects.exists()


def test_validate_needs_the_service_key(auth_client):
    key = create(auth_client()).json()["key"]
    for headers in ({}, {"HTTP_X_SERVICE_KEY": "wrong"}, {"HTTP_X_SERVICE_KEY": ""}):
        response = validate(key, headers)
        assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_validate_is_rate_limited_per_ip(auth_client, settings):
    settings.RATE_LIMIT_OVERRIDES = {"apikey-validate-ip": 3}
    for _ in range(3):
        assert validate("sk_live_x").status_code == 200
    response = validate("sk_live_x")
    assert response.status_code == 429 and response.json()["code"] == "RATE_LIMITED"


def test_another_users_key_cannot_be_revoked(auth_client):
    alice, bob = auth_client(), auth_client()
    key = create(alice).json()
    response = bob.delete(f"/api/v1/me/api-keys/{key['id']}")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert ApiKey.objects.get(id=key["id"]).revoked_at is None


def test_an_endpoint_that_declares_a_scope_accepts_the_key(auth_client):
    client = auth_client()
    key = create(client, scopes=["profile:read"]).json()["key"]
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = caller.get("/api/v1/auth/profile")
    assert response.status_code == 200 and response.json()["id"] == str(client.user.id)
    # the scope covers reading only, and only where declared
    assert caller.patch("/api/v1/auth/profile", {"name": "x"}, format="json").status_code == 403
    assert caller.get("/api/v1/auth/sessions").status_code == 401


def test_a_key_without_the_scope_is_forbidden(auth_client):
    client = auth_client()
    key = create(client, scopes=["sync:read"]).json()["key"]
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = caller.get("/api/v1/auth/profile")
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
