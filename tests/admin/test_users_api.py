"""Admin API, users: role checked against the database, search, tier, unlock, sessions."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import Session, User
from security.models import SecurityEvent
from spaces.models import Space
from tests.conftest import PASSWORD, login_tokens

pytestmark = pytest.mark.django_db

ANY_ID = str(uuid.uuid4())
ENDPOINTS = [
    ("get", "/api/v1/admin/users"),
    ("get", f"/api/v1/admin/users/{ANY_ID}"),
    ("get", f"/api/v1/admin/users/{ANY_ID}/data"),
    ("delete", f"/api/v1/admin/users/{ANY_ID}/data"),
    ("get", f"/api/v1/admin/users/{ANY_ID}/tier"),
    ("put", f"/api/v1/admin/users/{ANY_ID}/tier"),
    ("post", f"/api/v1/admin/users/{ANY_ID}/unlock"),
    ("post", f"/api/v1/admin/users/{ANY_ID}/revoke-sessions"),
    ("get", "/api/v1/admin/personas"),
    ("post", "/api/v1/admin/personas"),
    ("get", f"/api/v1/admin/personas/{ANY_ID}"),
    ("delete", f"/api/v1/admin/personas/{ANY_ID}"),
    ("post", f"/api/v1/admin/personas/{ANY_ID}/actions"),
    ("post", f"/api/v1/admin/personas/{ANY_ID}/feedback"),
]
WRONG = "definitely not the password"


def call(client: APIClient, method: str, url: str, body: dict | None = None):
    return getattr(client, method)(url, body or {}, format="json")


def login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


def claims_of(access_token: str) -> dict:
    response = APIClient().post("/api/v1/auth/validate", {"token": access_token}, format="json")
    assert response.status_code == 200 and response.json()["valid"], response.content
    return response.json()["claims"]


# --- Who may call -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_admin_endpoint_refuses_an_anonymous_caller(api_client, method, url):
    response = call(api_client, method, url)
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_admin_endpoint_refuses_a_signed_in_non_admin(user_client, method, url):
    response = call(user_client, method, url)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_a_wrong_service_key_is_refused_everywhere(api_client, method, url):
    api_client.credentials(HTTP_X_SERVICE_KEY="not-the-service-key")
    response = call(api_client, method, url)
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize(
    ("method", "url"),
    [(m, u) for m, u in ENDPOINTS if not u.endswith(("/actions", "/feedback"))],
)
def test_the_service_key_does_not_open_operator_endpoints(service_client, method, url):
    response = call(service_client, method, url)
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_a_demoted_admin_is_refused_at_once_with_a_still_valid_token(admin_client):
    assert admin_client.get("/api/v1/admin/users").status_code == 200
    User.objects.filter(pk=admin_client.user.pk).update(role="user")

    response = admin_client.get("/api/v1/admin/users")

    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    # The token itself is still valid and still says "admin": the database decides.
    assert claims_of(admin_client.tokens["accessToken"])["role"] == "admin"


def test_a_promoted_user_is_let_in_without_a_new_token(user_client):
    assert user_client.get("/api/v1/admin/users").status_code == 403
    User.objects.filter(pk=user_client.user.pk).update(role="admin")
    assert user_client.get("/api/v1/admin/users").status_code == 200


# --- List and detail --------------------------------------------------------------------------


def test_users_list_is_paginated_newest_first_in_the_contract_shape(admin_client, user_factory):
    for number in range(4):
        user_factory(email=f"page{number}@example.com")

    response = admin_client.get("/api/v1/admin/users", {"page": 1, "limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["page"] == 1 and body["limit"] == 2
    assert body["total"] == User.objects.count() == 5
    assert [item["email"] for item in body["items"]] == ["page3@example.com", "page2@example.com"]
    assert set(body["items"][0]) == {
        "id", "email", "name", "image", "locale", "emailVerified", "role", "tier", "kind",
        "createdAt", "onboardingCompletedAt",
    }  # fmt: skip
    second = admin_client.get("/api/v1/admin/users", {"page": 2, "limit": 2}).json()
    assert [item["email"] for item in second["items"]] == ["page1@example.com", "page0@example.com"]


def test_users_search_matches_email_name_or_id(admin_client, user_factory):
    grace = user_factory(email="grace@example.com", name="Grace Hopper")
    user_factory(email="alan@example.com", name="Alan Turing")

    by_email = admin_client.get("/api/v1/admin/users", {"search": "GRACE@"}).json()
    by_name = admin_client.get("/api/v1/admin/users", {"search": "turing"}).json()
    by_id = admin_client.get("/api/v1/admin/users", {"search": str(grace.id)}).json()

    assert [item["email"] for item in by_email["items"]] == ["grace@example.com"]
    assert [item["email"] for item in by_name["items"]] == ["alan@example.com"]
    assert by_id["total"] == 1 and by_id["items"][0]["id"] == str(grace.id)


def test_users_list_refuses_a_limit_over_100(admin_client):
    response = admin_client.get("/api/v1/admin/users", {"limit": 101})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "limit" in response.json()["details"]["fields"]


def test_user_detail_adds_lock_sessions_and_factors(admin_client, user_factory, api_client):
    user = user_factory(email="detail@example.com")
    login_tokens(api_client, user)

    response = admin_client.get(f"/api/v1/admin/users/{user.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "detail@example.com" and body["id"] == str(user.id)
    assert body["activeSessions"] == 1
    assert body["lockedForSeconds"] == 0
    assert body["totpEnabled"] is False and body["passkeys"] == 0
    assert "password" not in body


@pytest.mark.parametrize("user_id", [ANY_ID, "not-a-uuid"])
def test_user_endpoints_answer_404_for_an_unknown_or_malformed_id(admin_client, user_id):
    for method, url in [
        ("get", f"/api/v1/admin/users/{user_id}"),
        ("get", f"/api/v1/admin/users/{user_id}/tier"),
        ("put", f"/api/v1/admin/users/{user_id}/tier"),
        ("post", f"/api/v1/admin/users/{user_id}/unlock"),
        ("post", f"/api/v1/admin/users/{user_id}/revoke-sessions"),
    ]:
        response = call(admin_client, method, url, {"tier": "beta"})
        assert response.status_code == 404, url
        assert response.json()["code"] == "NOT_FOUND"


# --- Tier -------------------------------------------------------------------------------------


def test_get_tier_answers_the_current_tier(admin_client, user_factory):
    user = user_factory(access_tier="beta")
    response = admin_client.get(f"/api/v1/admin/users/{user.id}/tier")
    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "tier": "beta"}


def test_set_tier_updates_user_and_personal_space_and_is_audited(admin_client, user_factory):
    user = user_factory()

    response = admin_client.put(
        f"/api/v1/admin/users/{user.id}/tier", {"tier": "alpha"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "tier": "alpha"}
    user.refresh_from_db()
    assert user.access_tier == "alpha"
    assert Space.objects.get(created_by=user, type="personal").tier == "alpha"
    changed = SecurityEvent.objects.get(type="TIER_CHANGED", user=user)
    assert changed.metadata["from"] == "public" and changed.metadata["to"] == "alpha"
    action = SecurityEvent.objects.get(type="ADMIN_ACTION", user=admin_client.user)
    assert action.metadata["action"] == "tier_set"
    assert action.metadata["targetUserId"] == str(user.id)
    assert action.ip_address == "127.0.0.1"


def test_the_new_tier_is_in_the_next_token(admin_client, user_factory, api_client):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    assert claims_of(tokens["accessToken"])["tier"] == "public"

    admin_client.put(f"/api/v1/admin/users/{user.id}/tier", {"tier": "founder"}, format="json")
    refreshed = api_client.post(
        "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
    )

    assert refreshed.status_code == 200
    assert claims_of(refreshed.json()["accessToken"])["tier"] == "founder"


def test_setting_the_same_tier_changes_and_records_nothing(admin_client, user_factory):
    user = user_factory(access_tier="beta")
    response = admin_client.put(
        f"/api/v1/admin/users/{user.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 200
    assert not SecurityEvent.objects.filter(type__in=["TIER_CHANGED", "ADMIN_ACTION"]).exists()


@pytest.mark.parametrize("body", [{}, {"tier": "platinum"}, {"tier": None}])
def test_set_tier_refuses_an_unknown_tier(admin_client, user_factory, body):
    user = user_factory()
    response = admin_client.put(f"/api/v1/admin/users/{user.id}/tier", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "tier" in response.json()["details"]["fields"]
    user.refresh_from_db()
    assert user.access_tier == "public"


# --- Unlock and sessions ----------------------------------------------------------------------


def test_unlock_lets_a_locked_account_sign_in_again(admin_client, user_factory, api_client):
    user = user_factory(email="locked@example.com")
    for _ in range(5):
        login(api_client, user.email, WRONG)
    locked = login(api_client, user.email)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    assert admin_client.get(f"/api/v1/admin/users/{user.id}").json()["lockedForSeconds"] > 0

    response = admin_client.post(f"/api/v1/admin/users/{user.id}/unlock")

    assert response.status_code == 200
    assert response.json()["unlocked"] is True and response.json()["cleared"] >= 1
    assert login(api_client, user.email).status_code == 200
    unlocked = SecurityEvent.objects.get(type="ACCOUNT_UNLOCKED", user=user)
    assert unlocked.metadata["byAdmin"] is True
    action = SecurityEvent.objects.get(type="ADMIN_ACTION", user=admin_client.user)
    assert action.metadata == {"action": "unlock", "targetUserId": str(user.id)}


def test_unlocking_an_unlocked_account_is_harmless(admin_client, user_factory):
    user = user_factory()
    response = admin_client.post(f"/api/v1/admin/users/{user.id}/unlock")
    assert response.status_code == 200 and response.json()["cleared"] == 0


def test_revoke_sessions_ends_every_session_of_the_user(admin_client, user_factory):
    user = user_factory()
    first, second = APIClient(), APIClient()
    tokens = [login_tokens(first, user), login_tokens(second, user)]

    response = admin_client.post(f"/api/v1/admin/users/{user.id}/revoke-sessions")

    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    first.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[0]['accessToken']}")
    stale = first.get("/api/v1/auth/session")
    assert stale.status_code == 401 and stale.json()["code"] == "SESSION_REVOKED"
    refresh = APIClient().post(
        "/api/v1/auth/refresh", {"refreshToken": tokens[1]["refreshToken"]}, format="json"
    )
    assert refresh.status_code == 401
    assert SecurityEvent.objects.get(type="SESSION_REVOKED", user=user).metadata["count"] == 2
    action = SecurityEvent.objects.get(type="ADMIN_ACTION", user=admin_client.user)
    assert action.metadata["action"] == "sessions_revoke"
    assert action.metadata["targetUserId"] == str(user.id) and action.metadata["count"] == 2
    # The operator's own session is untouched.
    assert admin_client.get("/api/v1/admin/users").status_code == 200


def test_users_search_finds_an_account_by_any_spelling_of_its_address(admin_client, user_factory):
    kelvin = user_factory(email="kelvin@example.com", name="Lord")
    # Kelvin sign and full-width letters: not a substring of the stored address, the same key.
    spelling = "\u212aELVIN@" + "".join(chr(ord(c) + 0xFEE0) for c in "example") + ".com"
    found = admin_client.get("/api/v1/admin/users", {"search": spelling}).json()
    assert [item["id"] for item in found["items"]] == [str(kelvin.id)]
