"""Passkey sign-in: options, every check on the assertion, the answer, the limits."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import Passkey, Session
from security.models import LoginThrottle, SecurityEvent
from tests.conftest import TEST_REDIS_URL, redis_clear, store_select
from tests.passkeys.authenticator import SoftAuthenticator, unb64
from tests.passkeys.conftest import (
    BASE,
    next_minute,
    register_options,
    sign_in_options,
    sign_in_verify,
)

pytestmark = pytest.mark.django_db


def refused(response):
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    return True


# --- Success ----------------------------------------------------------------------------------


def test_sign_in_answers_exactly_like_a_password_login(
    passkey_user, passkey_sign_in, django_assert_max_num_queries
):
    client, device, passkey = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    credential = device.get(options)
    # 7 statements and 2 savepoints here; the budgets per store: tests/accounts/test_query_budgets
    with django_assert_max_num_queries(9):
        response = sign_in_verify(api, options["ceremonyId"], credential)
    assert response.status_code == 200, response.content
    body = response.json()
    password_login = client.tokens
    assert set(body) == set(password_login)
    assert body["user"] == password_login["user"]
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    assert response.cookies[settings.SSO_COOKIE_NAME].value
    assert response.cookies[settings.SSO_COOKIE_NAME]["httponly"]
    # The tokens work, the session records the passkey and the time of the sign-in.
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['accessToken']}")
    assert api.get("/api/v1/auth/session").status_code == 200
    refreshed = api.post(
        "/api/v1/auth/refresh", {"refreshToken": body["refreshToken"]}, format="json"
    )
    assert refreshed.status_code == 200
    session = Session.objects.filter(user=client.user, auth_method="passkey").get()
    assert abs((timezone.now() - session.auth_time).total_seconds()) < 10
    event = SecurityEvent.objects.filter(user=client.user, type="LOGIN_SUCCESS").first()
    assert event.metadata["method"] == "passkey"
    assert event.metadata["sessionId"] == str(session.id)
    stored = Passkey.objects.get(id=passkey["id"])
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_sign_in_with_an_email_lists_that_accounts_passkeys(passkey_user, passkey_sign_in):
    client, device, _ = passkey_user()
    options = sign_in_options(APIClient(), client.user.email.upper()).json()
    assert options["allowCredentials"] == [{"id": device.credential_id_b64, "type": "public-key"}]
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    assert passkey_sign_in(device, email=client.user.email).status_code == 200


def test_discoverable_options_name_no_credentials(passkey_user):
    passkey_user()
    options = sign_in_options(APIClient()).json()
    assert options["allowCredentials"] == []
    assert len(unb64(options["challenge"])) >= 16
    assert options["ceremonyId"]


def test_a_passkey_sign_in_is_fresh_re_authentication(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    body = passkey_sign_in(device).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['accessToken']}")
    assert register_options(client, password=None).status_code == 200


def test_authenticators_that_always_report_zero_keep_working(passkey_user, passkey_sign_in):
    _, device, passkey = passkey_user(counter_step=0)
    for _ in range(3):
        assert passkey_sign_in(device).status_code == 200
    assert Passkey.objects.get(id=passkey["id"]).sign_count == 0


def test_a_synced_passkey_may_change_its_backup_state(passkey_user, passkey_sign_in):
    _, device, passkey = passkey_user(backup_eligible=True, backed_up=False)
    device.backed_up = True
    assert passkey_sign_in(device).status_code == 200
    assert Passkey.objects.get(id=passkey["id"]).backed_up is True


# --- Refused assertions -----------------------------------------------------------------------

OTHER_CHALLENGE = base64.urlsafe_b64encode(b"y" * 32).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost:9999"},
        {"rp_id": "evil.example"},
        {"challenge": OTHER_CHALLENGE},
        {"tamper_signature": True},
        {"client_data_type": "webauthn.create"},
        {"credential_type": "password"},
        {"up": False},
        {"uv": False},
    ],
    ids=[
        "origin",
        "origin-port",
        "rpIdHash",
        "challenge",
        "signature",
        "client-data-type",
        "credential-type",
        "user-presence",
        "user-verification",
    ],
)
def test_a_tampered_assertion_is_refused(passkey_user, passkey_sign_in, tamper):
    client, device, passkey = passkey_user()
    assert refused(passkey_sign_in(device, **tamper))
    assert not Session.objects.filter(auth_method="passkey").exists()
    assert Passkey.objects.get(id=passkey["id"]).sign_count == 0
    failure = SecurityEvent.objects.get(user=client.user, type="LOGIN_FAILURE")
    assert failure.metadata == {"method": "passkey", "passkeyId": passkey["id"]}


def test_a_replayed_assertion_is_refused(passkey_user):
    _, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    credential = device.get(options)
    assert sign_in_verify(api, options["ceremonyId"], credential).status_code == 200
    assert refused(sign_in_verify(api, options["ceremonyId"], credential))
    # Nor does a new ceremony accept the old assertion: its challenge is not the new one.
    fresh = sign_in_options(api).json()
    assert refused(sign_in_verify(api, fresh["ceremonyId"], credential))
    assert Session.objects.filter(auth_method="passkey").count() == 1


def test_a_ceremony_expires_after_five_minutes(passkey_user):
    _, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    with freeze_time(timezone.now() + timedelta(minutes=6)):
        assert refused(sign_in_verify(api, options["ceremonyId"], device.get(options)))


def test_an_unknown_ceremony_id_is_refused(passkey_user):
    _, device, _ = passkey_user()
    options = sign_in_options(APIClient()).json()
    assert refused(sign_in_verify(APIClient(), "made-up", device.get(options)))


def test_a_sign_count_that_does_not_increase_is_refused_and_logged(passkey_user, passkey_sign_in):
    client, device, passkey = passkey_user()
    assert passkey_sign_in(device, sign_count=5).status_code == 200
    assert refused(passkey_sign_in(device, sign_count=5))
    assert refused(passkey_sign_in(device, sign_count=3))
    events = SecurityEvent.objects.filter(user=client.user, type="PASSKEY_CLONE_SUSPECTED")
    assert events.count() == 2
    assert {(e.metadata["storedCount"], e.metadata["receivedCount"]) for e in events} == {
        (5, 5),
        (5, 3),
    }
    assert events.first().metadata["passkeyId"] == passkey["id"]
    assert Passkey.objects.get(id=passkey["id"]).sign_count == 5
    assert passkey_sign_in(device, sign_count=6).status_code == 200


def test_a_counter_falling_back_to_zero_is_a_clone_too(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    assert passkey_sign_in(device).status_code == 200
    assert refused(passkey_sign_in(device, sign_count=0))
    assert SecurityEvent.objects.filter(type="PASSKEY_CLONE_SUSPECTED").count() == 1


def test_an_unsigned_forgery_raises_no_clone_alarm(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    assert passkey_sign_in(device, sign_count=5).status_code == 200
    assert refused(passkey_sign_in(device, sign_count=1, tamper_signature=True))
    assert not SecurityEvent.objects.filter(type="PASSKEY_CLONE_SUSPECTED").exists()


def test_backed_up_without_backup_eligibility_is_refused(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    device.backed_up = True
    assert refused(passkey_sign_in(device))


def test_a_device_bound_credential_turning_syncable_is_refused(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    device.backup_eligible = True
    assert refused(passkey_sign_in(device))


def test_an_unknown_credential_is_refused(passkey_user, passkey_sign_in):
    passkey_user()
    stranger = SoftAuthenticator()
    stranger.user_handle = b"\x00" * 16
    assert refused(passkey_sign_in(stranger))


def test_a_user_handle_that_does_not_match_is_refused(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    other, _, _ = passkey_user()
    assert refused(passkey_sign_in(device, user_handle=other.user.id.bytes))


def test_a_discoverable_assertion_must_carry_the_user_handle(passkey_user, passkey_sign_in):
    client, device, _ = passkey_user()
    assert refused(passkey_sign_in(device, user_handle=None))
    assert passkey_sign_in(device, email=client.user.email, user_handle=None).status_code == 200


def test_a_ceremony_for_one_email_refuses_another_accounts_passkey(passkey_user, passkey_sign_in):
    alice, _, _ = passkey_user()
    _, mallory_device, _ = passkey_user()
    assert refused(passkey_sign_in(mallory_device, email=alice.user.email))


def test_a_ceremony_for_an_unknown_email_refuses_every_passkey(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    assert refused(passkey_sign_in(device, email="nobody@example.com"))


def test_a_garbled_assertion_is_a_verification_failure(passkey_user):
    _, device, _ = passkey_user()
    api = APIClient()
    for garble in ("authenticatorData", "signature", "clientDataJSON"):
        options = sign_in_options(api).json()
        credential = device.get(options)
        credential["response"][garble] = "!!not-base64!!"
        assert refused(sign_in_verify(api, options["ceremonyId"], credential))
    options = sign_in_options(api).json()
    credential = device.get(options)
    credential["rawId"] = credential["id"] = "%%%"
    assert refused(sign_in_verify(api, options["ceremonyId"], credential))


def test_a_verify_body_without_a_credential_is_a_validation_error(api_client):
    response = api_client.post(f"{BASE}authenticate/verify", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["details"]["fields"]) == {"credential"}
    response = api_client.post(
        f"{BASE}authenticate/verify", {"ceremonyId": "x", "credential": {"id": "a"}}, format="json"
    )
    assert response.status_code == 400


def test_a_deactivated_account_cannot_sign_in_with_its_passkey(passkey_user, passkey_sign_in):
    client, device, _ = passkey_user()
    type(client.user).objects.filter(pk=client.user.pk).update(is_active=False)
    assert refused(passkey_sign_in(device))


def test_an_unverified_address_gets_the_same_answer_as_a_password_login(
    passkey_user, passkey_sign_in
):
    client, device, _ = passkey_user()
    type(client.user).objects.filter(pk=client.user.pk).update(email_verified_at=None)
    response = passkey_sign_in(device)
    assert response.status_code == 403
    assert response.json()["code"] == "EMAIL_NOT_VERIFIED"


# --- Enumeration ------------------------------------------------------------------------------


def test_an_unknown_email_gets_options_indistinguishable_from_a_real_one(passkey_user):
    client, _, _ = passkey_user()
    api = APIClient()
    real = sign_in_options(api, client.user.email).json()
    fake = sign_in_options(api, "nobody@example.com").json()
    assert set(real) == set(fake)
    assert real["userVerification"] == fake["userVerification"]
    assert real["timeout"] == fake["timeout"] and real["rpId"] == fake["rpId"]
    assert fake["allowCredentials"], "an empty list would give the unknown address away"
    for entry in real["allowCredentials"] + fake["allowCredentials"]:
        assert set(entry) == {"id", "type"}
        assert entry["type"] == "public-key"
    # Stable across requests (and spellings), like a real account's list.
    again = sign_in_options(api, "NoBody@Example.com").json()
    assert again["allowCredentials"] == fake["allowCredentials"]
    assert again["challenge"] != fake["challenge"]
    assert (
        sign_in_options(api, "other@example.com").json()["allowCredentials"]
        != (fake["allowCredentials"])
    )


def test_an_account_without_passkeys_looks_like_an_unknown_address(user_factory):
    user = user_factory()
    options = sign_in_options(APIClient(), user.email).json()
    assert options["allowCredentials"]
    assert all(set(entry) == {"id", "type"} for entry in options["allowCredentials"])


def test_an_invalid_email_is_a_validation_error(api_client):
    response = sign_in_options(api_client, "not-an-address")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


# --- Limits -----------------------------------------------------------------------------------


def test_options_are_limited_to_twenty_a_minute_per_ip(api_client):
    with freeze_time(next_minute()):
        codes = [sign_in_options(api_client).status_code for _ in range(21)]
        response = sign_in_options(api_client, "someone@example.com")
    assert codes == [200] * 20 + [429]
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0
    other_ip = APIClient(REMOTE_ADDR="10.0.0.9")
    with freeze_time(next_minute(seconds=5)):
        assert sign_in_options(other_ip).status_code == 200


def test_ten_failures_for_a_credential_start_a_five_minute_cooldown(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    _, other_device, _ = passkey_user()
    start = next_minute()
    with freeze_time(start):
        for _ in range(10):
            assert refused(passkey_sign_in(device, uv=False))
        # Even a genuine assertion waits now; other credentials are not affected.
        response = passkey_sign_in(device)
        assert response.status_code == 429
        assert response.json()["code"] == "RATE_LIMITED"
        assert 290 <= response.json()["details"]["retryAfter"] <= 301
        assert passkey_sign_in(other_device).status_code == 200
    with freeze_time(start + timedelta(minutes=4)):
        assert passkey_sign_in(device).status_code == 429
    with freeze_time(start + timedelta(minutes=5, seconds=2)):
        assert passkey_sign_in(device).status_code == 200
    # The password lockout never saw any of it.
    assert not LoginThrottle.objects.exists()


def test_nine_failures_do_not_start_the_cooldown(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    with freeze_time(next_minute()):
        for _ in range(9):
            assert refused(passkey_sign_in(device, tamper_signature=True))
        assert passkey_sign_in(device).status_code == 200


def test_a_password_lock_never_blocks_passkey_sign_in(passkey_user, passkey_sign_in, mailoutbox):
    client, device, _ = passkey_user()
    api = APIClient()
    for _ in range(5):
        wrong = api.post(
            "/api/v1/auth/login",
            {"email": client.user.email, "password": "wrong-password-1"},
            format="json",
        )
        assert wrong.status_code == 401
    locked = api.post(
        "/api/v1/auth/login",
        {"email": client.user.email, "password": client.user.raw_password},
        format="json",
    )
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    response = passkey_sign_in(device, email=client.user.email)
    assert response.status_code == 200
    assert response.json()["accessToken"]
    assert passkey_sign_in(device).status_code == 200


def test_a_store_outage_is_a_503_and_counts_nothing(passkey_user, settings):
    """The ceremony state lives in Redis; Redis stops answering between options and verify."""
    store_select(settings, "redis")
    _, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    credential = device.get(options)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = sign_in_verify(api, None, credential)
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    settings.REDIS_URL = TEST_REDIS_URL
    assert not SecurityEvent.objects.filter(type="LOGIN_FAILURE").exists()
    assert sign_in_verify(api, None, credential).status_code == 200
    redis_clear()


@pytest.mark.parametrize("algorithm", [-7, -8, -257], ids=["ES256", "EdDSA", "RS256"])
def test_every_offered_algorithm_registers_and_signs_in(passkey_user, passkey_sign_in, algorithm):
    _, device, _ = passkey_user(algorithm=algorithm)
    assert passkey_sign_in(device).status_code == 200
    assert refused(passkey_sign_in(device, tamper_signature=True))
