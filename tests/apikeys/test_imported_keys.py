"""Keys imported from the predecessor (``mana_…``, stored as Better Auth's base64url SHA-256)
validate like this service's own: one indexed lookup by hash, a constant-time comparison, and
the same ``{valid: false}`` for every way a key can be wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_keys import api_key_check, better_auth_key_hash
from accounts.models import ApiKey, ApiKeyHashFormat

pytestmark = pytest.mark.django_db
SERVICE = {"HTTP_X_SERVICE_KEY": "dev-service-key"}
KEY = "mana_" + "Q" * 59


def imported(user, key=KEY, **fields):
    return ApiKey.objects.create(
        user=user,
        name="Imported",
        prefix=key[:6],
        key_hash=better_auth_key_hash(key),
        hash_format=ApiKeyHashFormat.BETTER_AUTH,
        scopes=fields.pop("scopes", ["profile:read"]),
        **fields,
    )


def validate(key):
    return APIClient().post(
        "/api/v1/internal/api-keys/validate", {"key": key}, format="json", **SERVICE
    )


def test_an_imported_key_validates_and_is_accepted_as_a_bearer(user_factory):
    user = user_factory()
    imported(user)
    assert validate(KEY).json() == {
        "valid": True,
        "userId": str(user.pk),
        "scopes": ["profile:read"],
    }
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {KEY}")
    assert caller.get("/api/v1/auth/profile").json()["id"] == str(user.pk)
    assert caller.get("/api/v1/auth/sessions").status_code == 401  # only where a scope is declared


def test_revoked_expired_and_wrong_imported_keys_are_just_invalid(user_factory):
    user = user_factory()
    imported(user, "mana_" + "R" * 59, revoked_at=timezone.now())
    imported(user, "mana_" + "E" * 59, expires_at=timezone.now() - timedelta(minutes=1))
    imported(user)
    for key in ("mana_" + "R" * 59, "mana_" + "E" * 59, KEY[:-1] + "X", "mana_", "x" * 200):
        assert validate(key).json() == {"valid": False}
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION="Bearer mana_" + "R" * 59)
    response = caller.get("/api/v1/auth/profile")
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_an_unknown_key_costs_one_query_like_a_known_one(user_factory, django_assert_num_queries):
    imported(user_factory(), last_used_at=timezone.now())
    with django_assert_num_queries(1):
        assert api_key_check("mana_" + "Z" * 59).valid is False
    with django_assert_num_queries(1):
        assert api_key_check(KEY).valid is True  # used a moment ago: no last-used write


def test_the_hash_lookup_has_its_own_unique_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            ["accounts_api_key_better_auth_hash_unique"],
        )
        (definition,) = cursor.fetchone()
    assert definition.startswith("CREATE UNIQUE INDEX") and "(key_hash)" in definition
    assert "WHERE" in definition and "better_auth" in definition


def test_prefixes_stay_unique_for_own_keys_only(user_factory):
    user = user_factory()
    imported(user, "mana_A" + "x" * 58)
    imported(user, "mana_A" + "y" * 58)  # the same visible start is fine for imported keys
    assert ApiKey.objects.filter(prefix="mana_A").count() == 2
    ApiKey.objects.create(user=user, name="a", prefix="sk_live_abc", key_hash="0" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.create(user=user, name="b", prefix="sk_live_abc", key_hash="1" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        imported(user)
        imported(user)  # the same key twice
