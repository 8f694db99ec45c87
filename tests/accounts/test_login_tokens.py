"""Sign-in, EdDSA tokens, the JWKS, refresh rotation and replay, sessions."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts import signing_keys
from accounts.models import RefreshToken, Session, SigningKey, User
from security.models import SecurityEvent
from tests.conftest import PASSWORD, login_tokens

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"


def login(client, email, password=PASSWORD, **extra):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **extra)


def test_login_returns_user_tokens_and_sso_cookie(api_client, user_factory, settings):
    user = user_factory(email="ok@example.com", name="Ok")
    response = login(api_client, "ok@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    assert body["user"] == {
        "id": str(user.id),
        "email": "ok@example.com",
        "name": "Ok",
        "image": "",
        "locale": "en",
        "emailVerified": True,
        "role": "user",
        "tier": "public",
        "kind": "human",
        "createdAt": body["user"]["createdAt"],
        "onboardingCompletedAt": None,
    }
    cookie = response.cookies[settings.SSO_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert body["refreshToken"] not in cookie.value
    session = Session.objects.get(user=user)
    assert session.auth_method == "password"
    assert SecurityEvent.objects.filter(user=user, type="LOGIN_SUCCESS").count() == 1


def test_access_token_has_exactly_the_contract_claims(api_client, user_factory, settings):
    user = user_factory()
    token = login_tokens(api_client, user)["accessToken"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt" and header["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"sub", "email", "role", "tier", "sid", "iss", "aud", "iat", "exp", "jti"}
    assert claims["sub"] == str(user.id)
    assert claims["iss"] == settings.JWT_ISSUER and claims["aud"] == "mana"
    assert claims["exp"] - claims["iat"] == 900
    assert Session.objects.filter(id=claims["sid"], user=user).exists()


def test_token_verifies_with_plain_pyjwt_against_published_jwks(api_client, user_factory, settings):
    token = login_tokens(api_client, user_factory())["accessToken"]
    response = api_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public")
    jwks = json.loads(response.content)
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
    client = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in client.keys if k.key_id == kid)
    claims = jwt.decode(
        token, key.key, algorithms=["EdDSA"], audience="mana", issuer=settings.JWT_ISSUER
    )
    assert claims["sub"]


def test_jwks_etag_gives_304(api_client):
    first = api_client.get("/.well-known/jwks.json")
    second = api_client.get("/.well-known/jwks.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 304


def test_jwks_publishes_no_private_material(api_client):
    body = api_client.get("/.well-known/jwks.json").content.decode()
    assert '"d"' not in body
    row = SigningKey.objects.get()
    assert base64.urlsafe_b64encode(bytes(row.private_wrapped)).decode()[:20] not in body


def test_unknown_email_and_wrong_password_look_the_same(api_client, user_factory):
    user_factory(email="real@example.com")
    unknown = login(api_client, "ghost@example.com", "some-password-1")
    wrong = login(api_client, "real@example.com", "some-password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.json()
        == wrong.json()
        == {
            "code": "INVALID_CREDENTIALS",
            "message": "Invalid email or password.",
        }
    )


def test_unknown_email_runs_the_hasher_like_a_real_account(api_client, user_factory, monkeypatch):
    """Count hasher runs instead of timing them: one verify either way."""
    from accounts.hashers import ManaArgon2PasswordHasher

    calls = []
    original = ManaArgon2PasswordHasher.verify

    def counting(self, password, encoded):
        calls.append(encoded)
        return original(self, password, encoded)

    monkeypatch.setattr(ManaArgon2PasswordHasher, "verify", counting)
    user_factory(email="real@example.com")
    login(api_client, "ghost@example.com", "some-password-1")
    unknown_runs = len(calls)
    calls.clear()
    login(api_client, "real@example.com", "some-password-1")
    assert unknown_runs == len(calls) == 1


def test_unverified_email_is_refused_only_after_the_password(api_client, user_factory):
    user_factory(email="new@example.com", verified=False)
    wrong = login(api_client, "new@example.com", "wrong-password-9")
    assert wrong.json()["code"] == "INVALID_CREDENTIALS"
    right = login(api_client, "new@example.com")
    assert right.status_code == 403 and right.json()["code"] == "EMAIL_NOT_VERIFIED"
    assert not Session.objects.exists()


def test_login_upgrades_an_outdated_hash(api_client, user_factory, settings):
    user = user_factory(email="old@example.com")
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    assert login(api_client, "old@example.com").status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    settings.ARGON2_MEMORY_COST_KIB = 8 * 1024
    assert login(api_client, "old@example.com").status_code == 200
    user.refresh_from_db()
    assert "m=8192" in user.password


# --- Forged and broken tokens -----------------------------------------------------------------


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    def enc(part):
        return base64.urlsafe_b64encode(part).rstrip(b"=").decode()

    return ".".join(
        [enc(json.dumps(header).encode()), enc(json.dumps(claims).encode()), enc(signature)]
    )


@pytest.fixture
def real_claims(api_client, user_factory):
    token = login_tokens(api_client, user_factory())["accessToken"]
    return token, jwt.decode(token, options={"verify_signature": False})


def _profile(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/auth/profile")


def test_alg_none_is_refused(real_claims):
    token, claims = real_claims
    kid = jwt.get_unverified_header(token)["kid"]
    response = _profile(_forge({"alg": "none", "kid": kid, "typ": "at+jwt"}, claims))
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_hs256_with_the_public_key_as_secret_is_refused(real_claims, api_client):
    token, claims = real_claims
    jwks = json.loads(api_client.get("/.well-known/jwks.json").content)
    public_x = jwks["keys"][0]["x"].encode()
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(claims, public_x, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})
    response = _profile(forged)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_unknown_kid_and_junk_kid_are_refused(real_claims):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _, claims = real_claims
    attacker = Ed25519PrivateKey.generate()
    for kid in ("unknown-kid", "../../etc/passwd", "x" * 500):
        forged = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": kid})
        response = _profile(forged)
        assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"
    for kid in (12, None, {"a": 1}):
        response = _profile(_forge({"alg": "EdDSA", "kid": kid}, claims, b"x" * 64))
        assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_embedded_jwk_is_refused(real_claims):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    token, claims = real_claims
    attacker = Ed25519PrivateKey.generate()
    raw = attacker.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode()}
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(
        claims, attacker, algorithm="EdDSA", headers={"kid": kid, "jwk": jwk, "typ": "at+jwt"}
    )
    response = _profile(forged)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer", "e30.e30.e30"])
def test_malformed_tokens_are_401_not_500(token):
    response = _profile(token)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_expired_token_is_token_expired(api_client, user_factory):
    user = user_factory()
    with freeze_time(timezone.now() - timedelta(minutes=20)):
        token = login_tokens(api_client, user)["accessToken"]
    response = _profile(token)
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_EXPIRED"


def test_validate_endpoint(api_client, user_factory):
    token = login_tokens(api_client, user_factory())["accessToken"]
    ok = api_client.post("/api/v1/auth/validate", {"token": token}, format="json").json()
    assert ok["valid"] is True
    assert ok["claims"]["sub"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    bad = api_client.post("/api/v1/auth/validate", {"token": "junk"}, format="json").json()
    assert bad == {"valid": False, "code": "TOKEN_INVALID"}
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.post("/api/v1/auth/logout").status_code == 204
    revoked = api_client.post("/api/v1/auth/validate", {"token": token}, format="json").json()
    assert revoked == {"valid": False, "code": "SESSION_REVOKED"}


def test_validate_says_revoked_for_a_deactivated_account_or_an_ended_session(
    api_client, user_factory
):
    """Validate's liveness check (without Redis, one query) keeps every condition of a live
    session: the account active, the session not past its expiry."""
    user = user_factory()
    token = login_tokens(api_client, user)["accessToken"]
    body = {"token": token}
    assert api_client.post("/api/v1/auth/validate", body, format="json").json()["valid"]
    User.objects.filter(pk=user.pk).update(is_active=False)
    deactivated = api_client.post("/api/v1/auth/validate", body, format="json").json()
    assert deactivated == {"valid": False, "code": "SESSION_REVOKED"}
    User.objects.filter(pk=user.pk).update(is_active=True)
    Session.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    ended = api_client.post("/api/v1/auth/validate", body, format="json").json()
    assert ended == {"valid": False, "code": "SESSION_REVOKED"}


def test_validate_refuses_a_session_id_signed_for_another_user(api_client, user_factory):
    from accounts import crypto

    victim_token = login_tokens(api_client, user_factory())["accessToken"]
    other = user_factory()
    claims = json.loads(crypto.parse_compact(victim_token).payload)
    claims["sub"] = str(other.pk)
    kid, key = signing_keys.active_signing_key()
    forged = crypto.sign_access_token(private_key=key, kid=kid, claims=claims)
    response = api_client.post("/api/v1/auth/validate", {"token": forged}, format="json")
    assert response.json() == {"valid": False, "code": "SESSION_REVOKED"}


# --- Key rotation -------------------------------------------------------------------------------


def test_rotated_key_old_tokens_verify_until_expiry_new_use_new_kid(api_client, user_factory):
    from django.core.management import call_command

    user = user_factory()
    old_token = login_tokens(api_client, user)["accessToken"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    call_command("rotate_signing_key")
    signing_keys.invalidate_memo()
    new_token = login_tokens(APIClient(), user)["accessToken"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    kids = {
        key["kid"] for key in json.loads(api_client.get("/.well-known/jwks.json").content)["keys"]
    }
    assert kids == {old_kid, new_kid}
    assert _profile(old_token).status_code == 200
    assert _profile(new_token).status_code == 200
    # Once every token of the old key has expired, it leaves the JWKS.
    with freeze_time(timezone.now() + timedelta(minutes=20)):
        signing_keys.invalidate_memo()
        kids = {
            k["kid"] for k in json.loads(APIClient().get("/.well-known/jwks.json").content)["keys"]
        }
        assert kids == {new_kid}
    signing_keys.invalidate_memo()


def test_signing_key_private_half_is_wrapped(api_client, user_factory):
    from cryptography.hazmat.primitives import serialization

    login_tokens(api_client, user_factory())
    row = SigningKey.objects.get()
    _, private = signing_keys.active_signing_key()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw not in bytes(row.private_wrapped)
    assert len(bytes(row.private_iv)) == 12


# --- Refresh ------------------------------------------------------------------------------------


def refresh(client, token):
    return client.post("/api/v1/auth/refresh", {"refreshToken": token}, format="json")


def test_refresh_rotates_the_pair(api_client, user_factory):
    tokens = login_tokens(api_client, user_factory())
    response = refresh(api_client, tokens["refreshToken"])
    assert response.status_code == 200
    pair = response.json()
    assert pair["refreshToken"] != tokens["refreshToken"]
    assert set(pair) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
    assert _profile(pair["accessToken"]).status_code == 200
    assert RefreshToken.objects.filter(used_at__isnull=True).count() == 1


def test_replayed_refresh_token_revokes_session(api_client, user_factory, mailoutbox):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    rotated = refresh(api_client, tokens["refreshToken"]).json()
    mailoutbox.clear()
    replay = refresh(api_client, tokens["refreshToken"])
    assert replay.status_code == 401 and replay.json()["code"] == "REFRESH_TOKEN_REUSED"
    session = Session.objects.get(user=user)
    assert session.revoked_at is not None and session.revoked_reason == "refresh_reuse"
    assert SecurityEvent.objects.filter(user=user, type="REFRESH_TOKEN_REUSED").count() == 1
    assert len(mailoutbox) == 1 and "Was this you" in mailoutbox[0].subject
    # Everything of that session is dead now, including the rotated pair.
    assert refresh(api_client, rotated["refreshToken"]).json()["code"] in (
        "SESSION_REVOKED",
        "REFRESH_TOKEN_REUSED",
    )
    assert _profile(rotated["accessToken"]).json()["code"] == "SESSION_REVOKED"


def test_unknown_refresh_token(api_client):
    response = refresh(api_client, "rt_unknown")
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.django_db(transaction=True)
def test_concurrent_refresh_has_exactly_one_success(user_factory):
    tokens = login_tokens(APIClient(), user_factory())
    barrier = threading.Barrier(2)
    results = []

    def worker():
        barrier.wait()
        try:
            results.append(refresh(APIClient(), tokens["refreshToken"]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 401]


def test_idle_session_cannot_refresh(api_client, user_factory, settings):
    tokens = login_tokens(api_client, user_factory())
    Session.objects.update(last_used_at=timezone.now() - timedelta(days=15))
    response = refresh(api_client, tokens["refreshToken"])
    assert response.status_code == 401 and response.json()["code"] == "SESSION_REVOKED"


@pytest.mark.parametrize("ended", ["revoked", "expired", "deactivated", "idle"])
def test_refresh_of_a_session_that_is_not_live_uses_nothing_up(
    api_client, user_factory, mailoutbox, ended
):
    """SESSION_REVOKED, and the token stays unused: asking again is the same answer, never a
    replay alarm (the refresh is one statement that claims only while the session is live)."""
    user = user_factory()
    tokens = login_tokens(api_client, user)
    sessions = Session.objects.filter(user=user)
    if ended == "revoked":
        sessions.update(revoked_at=timezone.now())
    elif ended == "expired":
        sessions.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif ended == "idle":
        sessions.update(last_used_at=timezone.now() - timedelta(days=15))
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)
    mailoutbox.clear()
    for _ in range(2):
        response = refresh(api_client, tokens["refreshToken"])
        assert response.status_code == 401 and response.json()["code"] == "SESSION_REVOKED"
    assert RefreshToken.objects.get(session__user=user).used_at is None
    assert not SecurityEvent.objects.filter(type="REFRESH_TOKEN_REUSED").exists()
    assert mailoutbox == []


def test_an_expired_refresh_token_is_token_expired(api_client, user_factory):
    tokens = login_tokens(api_client, user_factory())
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = refresh(api_client, tokens["refreshToken"])
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_EXPIRED"


def test_refresh_touches_the_session_and_keeps_the_successor_within_its_life(
    api_client, user_factory
):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    session = Session.objects.get(user=user)
    Session.objects.filter(pk=session.pk).update(
        last_used_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=2),
    )
    assert refresh(api_client, tokens["refreshToken"]).status_code == 200
    session.refresh_from_db()
    assert timezone.now() - session.last_used_at < timedelta(minutes=1)
    successor = RefreshToken.objects.get(session=session, used_at__isnull=True)
    assert successor.expires_at == session.expires_at


# --- Sessions -----------------------------------------------------------------------------------


def test_logout_revokes_the_session_at_once(auth_client):
    client = auth_client()
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 204
    after = client.get("/api/v1/auth/profile")
    assert after.status_code == 401 and after.json()["code"] == "SESSION_REVOKED"
    assert SecurityEvent.objects.filter(user=client.user, type="LOGOUT").count() == 1
    assert refresh(APIClient(), client.tokens["refreshToken"]).json()["code"] == "SESSION_REVOKED"


def test_logout_with_the_cookie_clears_it(api_client, user_factory, settings):
    user = user_factory()
    login(api_client, user.email)
    response = api_client.post("/api/v1/auth/logout")
    assert response.status_code == 204
    assert response.cookies[settings.SSO_COOKIE_NAME].value == ""
    assert Session.objects.get(user=user).revoked_at is not None


def test_session_endpoint_by_bearer_and_by_cookie(api_client, user_factory):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    by_cookie = api_client.get("/api/v1/auth/session")
    assert by_cookie.status_code == 200
    assert by_cookie.json()["user"]["id"] == str(user.id)
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    body = bearer.get("/api/v1/auth/session").json()
    assert set(body["session"]) >= {"id", "createdAt", "expiresAt", "ipAddress", "userAgent"}
    assert body["session"]["ipAddress"] == "127.0.0.1"


def test_session_to_token_trades_the_cookie(api_client, user_factory):
    user = user_factory()
    login(api_client, user.email)
    response = api_client.post("/api/v1/auth/session-to-token")
    assert response.status_code == 200
    assert _profile(response.json()["accessToken"]).status_code == 200
    assert APIClient().post("/api/v1/auth/session-to-token").json()["code"] == "TOKEN_INVALID"


def test_session_to_token_refuses_a_revoked_cookie(api_client, user_factory, settings):
    user = user_factory()
    login(api_client, user.email)
    Session.objects.update(revoked_at=timezone.now())
    response = api_client.post("/api/v1/auth/session-to-token")
    assert response.status_code == 401 and response.json()["code"] == "SESSION_REVOKED"


def test_sessions_list_and_revoke(auth_client):
    client = auth_client()
    other = APIClient()
    other_tokens = login_tokens(other, client.user)
    listing = client.get("/api/v1/auth/sessions").json()["items"]
    assert len(listing) == 2
    assert sum(item["current"] for item in listing) == 1
    other_id = next(item["id"] for item in listing if not item["current"])
    assert client.delete(f"/api/v1/auth/sessions/{other_id}").status_code == 204
    assert _profile(other_tokens["accessToken"]).json()["code"] == "SESSION_REVOKED"
    assert client.get("/api/v1/auth/profile").status_code == 200


def test_revoking_another_users_session_is_404(auth_client):
    alice, bob = auth_client(), auth_client()
    bob_sid = jwt.decode(bob.tokens["accessToken"], options={"verify_signature": False})["sid"]
    response = alice.delete(f"/api/v1/auth/sessions/{bob_sid}")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert bob.get("/api/v1/auth/profile").status_code == 200


def test_revoke_others_keeps_the_current_session(auth_client):
    client = auth_client()
    others = [login_tokens(APIClient(), client.user) for _ in range(2)]
    response = client.post("/api/v1/auth/sessions/revoke-others")
    assert response.json() == {"revoked": 2}
    assert client.get("/api/v1/auth/profile").status_code == 200
    for tokens in others:
        assert _profile(tokens["accessToken"]).json()["code"] == "SESSION_REVOKED"


def test_deactivated_user_token_stops_working(auth_client):
    client = auth_client()
    User.objects.filter(pk=client.user.pk).update(is_active=False)
    assert client.get("/api/v1/auth/profile").json()["code"] == "SESSION_REVOKED"


def test_client_ip_ignores_forwarded_for_from_untrusted_peers(api_client, user_factory, settings):
    import ipaddress

    user = user_factory()
    login(api_client, user.email, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert Session.objects.get(user=user).ip_address == "127.0.0.1"
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    login(api_client, user.email, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9")
    newest = Session.objects.filter(user=user).order_by("-created_at").first()
    assert newest.ip_address == "203.0.113.9"


def test_time_is_not_leaking(api_client):
    # sanity: the clock the tests rely on is the real one
    assert abs(time.time() - timezone.now().timestamp()) < 5
