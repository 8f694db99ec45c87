"""SQL query budgets on the hot paths (see README "Performance"), with the shared state in
Redis and in PostgreSQL (no REDIS_URL: rate counters, cooldowns and ceremonies are statements).

Transactional tests: atomic blocks are real transactions here, as in production, so the
counts hold no test-only SAVEPOINT statements.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, login_tokens, store_select
from tests.passkeys.authenticator import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftAuthenticator

pytestmark = pytest.mark.django_db(transaction=True)

# Statements per request once warm (BEGIN and COMMIT count), per store. Redis: the README's table.
# PostgreSQL: each rate-limit counter, cooldown check and ceremony state is one statement more.
# Login: the lockout counter is reserved before the password check (one upsert, where a read
# was) and cleared after a sign-in (one DELETE), so concurrent guesses cannot pass the lock;
# the browser becomes a known device of the address (one upsert of the shared state's list).
BUDGETS = {
    "redis": {"login": 4, "passkey_options": 1, "passkey_verify": 2},
    "postgres": {"login": 8, "passkey_options": 3, "passkey_verify": 4},
}


def test_validate_costs_at_most_one_query(
    api_client, user_factory, shared_store, django_assert_max_num_queries
):
    token = login_tokens(api_client, user_factory())["accessToken"]
    api_client.post("/api/v1/auth/validate", {"token": token}, format="json")  # warm
    with django_assert_max_num_queries(1):
        response = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
    assert response.json()["valid"] is True


def test_authenticated_session_costs_at_most_one_query(
    user_factory, shared_store, django_assert_max_num_queries
):
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


def test_refresh_costs_one_statement(
    api_client, user_factory, shared_store, django_assert_max_num_queries
):
    """Claim, touch, successor and read in one statement: no BEGIN/COMMIT round trips."""
    tokens = login_tokens(api_client, user_factory())
    with django_assert_max_num_queries(1):
        response = api_client.post(
            "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
        )
    assert response.status_code == 200


def test_password_login_query_budget(
    api_client, user_factory, shared_store, django_assert_max_num_queries
):
    user = user_factory()
    login_tokens(APIClient(), user)  # warm the signing key
    with django_assert_max_num_queries(BUDGETS[shared_store]["login"]):
        response = api_client.post(
            "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        )
    assert response.status_code == 200


def test_validate_costs_no_query_on_a_cache_hit_with_redis(
    api_client, user_factory, settings, django_assert_num_queries
):
    store_select(settings, "redis")
    token = login_tokens(api_client, user_factory())["accessToken"]
    api_client.post("/api/v1/auth/validate", {"token": token}, format="json")  # fills the cache
    with django_assert_num_queries(0):
        response = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
    assert response.json()["valid"] is True


def test_without_redis_validate_asks_the_database_every_time(
    api_client, user_factory, settings, django_assert_num_queries
):
    """No REDIS_URL: no cache in the same PostgreSQL (it would cost what the answer costs);
    the one session query sees a revocation the moment it commits, on every worker."""
    store_select(settings, "postgres")
    token = login_tokens(api_client, user_factory())["accessToken"]
    for _ in range(3):
        with django_assert_num_queries(1):
            response = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
        assert response.json()["valid"] is True


def test_revocation_beats_the_validate_cache(api_client, user_factory, shared_store):
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
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
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


def test_a_late_live_write_cannot_resurrect_a_revoked_session(api_client, user_factory, settings):
    """A reader that saw "live" before the revocation committed writes the cache late."""
    from accounts import selectors
    from security import shared_state

    store_select(settings, "redis")

    tokens = login_tokens(api_client, user_factory())
    claims = selectors.access_token_claims(tokens["accessToken"])
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert bearer.post("/api/v1/auth/logout").status_code == 204
    shared_state.put(f"sess-live:{claims['sid']}", [claims["sub"], 9_999_999_999], ttl=30)
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


def _passkey_ready(auth_client, settings):
    settings.WEBAUTHN_RP_ID = DEFAULT_RP_ID
    settings.WEBAUTHN_ORIGINS = [DEFAULT_ORIGIN]
    client = auth_client()
    device = SoftAuthenticator()
    base = "/api/v1/auth/passkeys/"
    options = client.post(f"{base}register/options", {"password": PASSWORD}, format="json")
    created = client.post(
        f"{base}register/verify", {"credential": device.create(options.json())}, format="json"
    )
    assert created.status_code == 201, created.content
    return client.user, device


def test_passkey_options_budget(auth_client, settings, shared_store, django_assert_max_num_queries):
    user, _ = _passkey_ready(auth_client, settings)
    api = APIClient()
    url = "/api/v1/auth/passkeys/authenticate/options"
    api.post(url, {"email": user.email}, format="json")  # warm: the decoy shape memo
    with django_assert_max_num_queries(BUDGETS[shared_store]["passkey_options"]):
        assert api.post(url, {"email": user.email}, format="json").status_code == 200
    with django_assert_max_num_queries(BUDGETS[shared_store]["passkey_options"]):
        assert api.post(url, {"email": "nobody@example.com"}, format="json").status_code == 200


def test_passkey_verify_budget(auth_client, settings, shared_store, django_assert_max_num_queries):
    _, device = _passkey_ready(auth_client, settings)
    api = APIClient()
    base = "/api/v1/auth/passkeys/"
    for attempt in range(2):  # the first warms the signing key
        options = api.post(f"{base}authenticate/options", {}, format="json").json()
        credential = device.get(options)
        with django_assert_max_num_queries(
            BUDGETS[shared_store]["passkey_verify"] + 5 * (1 - attempt)
        ):
            response = api.post(
                f"{base}authenticate/verify", {"credential": credential}, format="json"
            )
        assert response.status_code == 200, response.content
