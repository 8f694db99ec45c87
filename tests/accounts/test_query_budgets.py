"""SQL query budgets on the hot paths (see README "Performance").

Transactional tests: atomic blocks are real transactions here, as in production, so the
counts hold no test-only SAVEPOINT statements.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, login_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def test_validate_costs_at_most_one_query(api_client, user_factory, django_assert_max_num_queries):
    token = login_tokens(api_client, user_factory())["accessToken"]
    api_client.post("/api/v1/auth/validate", {"token": token}, format="json")  # warm
    with django_assert_max_num_queries(1):
        response = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
    assert response.json()["valid"] is True


def test_authenticated_session_costs_at_most_one_query(user_factory, django_assert_max_num_queries):
    client = APIClient()
    token = login_tokens(client, user_factory())["accessToken"]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    bearer.get("/api/v1/auth/session")
    with django_assert_max_num_queries(1):
        assert bearer.get("/api/v1/auth/session").status_code == 200


def test_jwks_costs_no_query_once_warm(api_client, django_assert_num_queries):
    api_client.get("/.well-known/jwks.json")
    with django_assert_num_queries(0):
        assert api_client.get("/.well-known/jwks.json").status_code == 200


def test_refresh_costs_at_most_four_queries(
    api_client, user_factory, django_assert_max_num_queries
):
    tokens = login_tokens(api_client, user_factory())
    with django_assert_max_num_queries(4):
        response = api_client.post(
            "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
        )
    assert response.status_code == 200


def test_password_login_costs_at_most_eight_queries(
    api_client, user_factory, django_assert_max_num_queries
):
    user = user_factory()
    login_tokens(APIClient(), user)  # warm the signing key
    with django_assert_max_num_queries(8):
        response = api_client.post(
            "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        )
    assert response.status_code == 200


def test_validate_costs_no_query_on_a_cache_hit(
    api_client, user_factory, django_assert_num_queries
):
    token = login_tokens(api_client, user_factory())["accessToken"]
    api_client.post("/api/v1/auth/validate", {"token": token}, format="json")  # fills the cache
    with django_assert_num_queries(0):
        response = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
    assert response.json()["valid"] is True


def test_revocation_beats_the_validate_cache(api_client, user_factory):
    tokens = login_tokens(api_client, user_factory())
    validate = {"token": tokens["accessToken"]}
    assert api_client.post("/api/v1/auth/validate", validate, format="json").json()["valid"]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert bearer.post("/api/v1/auth/sessions/revoke-others").status_code == 200
    assert api_client.post("/api/v1/auth/validate", validate, format="json").json()["valid"]
    assert bearer.post("/api/v1/auth/logout").status_code == 204
    after = api_client.post("/api/v1/auth/validate", validate, format="json").json()
    assert after == {"valid": False, "code": "SESSION_REVOKED"}


def test_validate_falls_back_to_the_database_when_the_cache_is_down(
    api_client, user_factory, settings
):
    tokens = login_tokens(api_client, user_factory())
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = api_client.post(
        "/api/v1/auth/validate", {"token": tokens["accessToken"]}, format="json"
    )
    assert response.json()["valid"] is True


def test_a_memoised_token_still_expires_and_dies_with_its_key(api_client, user_factory):
    from datetime import timedelta

    from django.utils import timezone
    from freezegun import freeze_time

    from accounts.models import SigningKey

    token = login_tokens(api_client, user_factory())["accessToken"]
    body = {"token": token}
    assert api_client.post("/api/v1/auth/validate", body, format="json").json()["valid"]
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        expired = api_client.post("/api/v1/auth/validate", body, format="json").json()
    assert expired == {"valid": False, "code": "TOKEN_EXPIRED"}
    # An operator removes a compromised key: its tokens stop verifying, memo or not.
    SigningKey.objects.all().delete()
    from accounts import signing_keys

    signing_keys.invalidate_memo()
    gone = api_client.post("/api/v1/auth/validate", body, format="json").json()
    assert gone == {"valid": False, "code": "TOKEN_INVALID"}


def test_a_late_live_write_cannot_resurrect_a_revoked_session(api_client, user_factory):
    """A reader that saw "live" before the revocation committed writes the cache late."""
    from django.core.cache import cache

    from accounts import selectors

    tokens = login_tokens(api_client, user_factory())
    claims = selectors.access_token_claims(tokens["accessToken"])
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert bearer.post("/api/v1/auth/logout").status_code == 204
    cache.set(f"sess-live:{claims['sid']}", (claims["sub"], 9_999_999_999), timeout=30)
    assert selectors.session_is_live(claims) is False


def test_validate_with_a_malformed_sid_is_just_invalid(api_client, user_factory):
    from accounts import crypto, signing_keys

    token = login_tokens(api_client, user_factory())["accessToken"]
    claims = crypto.parse_compact(token)
    import json

    body = json.loads(claims.payload)
    body["sid"] = "not-a-uuid"
    kid, key = signing_keys.active_signing_key()
    forged = crypto.sign_access_token(private_key=key, kid=kid, claims=body)
    response = api_client.post("/api/v1/auth/validate", {"token": forged}, format="json")
    assert response.status_code == 200
    assert response.json() == {"valid": False, "code": "TOKEN_INVALID"}
