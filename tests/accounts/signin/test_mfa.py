"""TOTP and backup codes: enrolment, two-step sign-in, replay and drift, storage, re-auth."""

from __future__ import annotations

import base64
from datetime import timedelta

import pyotp
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, Session, User
from mana_auth.kek.crypto import UnwrapError, kek_id
from security.models import LoginThrottle, SecurityEvent
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.otp.services import totp_seeds_rewrap
from tests.accounts.signin.mfa_helpers import (
    BACKUP_CODES,
    CONFIRM,
    SETUP,
    STATUS,
    STEP,
    TOTP,
    code_at,
    enable_totp,
    finish,
    frozen_clock,
    mfa_token,
    password_login,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


def wrong_code(secret: str) -> str:
    """A six-digit code valid at no step within reach of now."""
    now = timezone.now().timestamp()
    taken = {code_at(secret, now + offset * STEP) for offset in (-2, -1, 0, 1, 2)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in taken)


def events(user, kind):
    return SecurityEvent.objects.filter(user=user, type=kind)


# --- Enrolment --------------------------------------------------------------------------------


def test_setup_returns_a_160_bit_secret_uri_and_qr_but_enables_nothing(auth_client):
    client = auth_client()
    response = client.post(SETUP, {}, format="json")
    assert response.status_code == 200
    body = response.json()
    seed = base64.b32decode(body["secret"] + "=" * (-len(body["secret"]) % 8))
    assert len(seed) >= 20
    assert body["otpauthUri"].startswith("otpauth://totp/Mana:")
    assert f"secret={body['secret']}" in body["otpauthUri"]
    assert "issuer=Mana" in body["otpauthUri"] and "period=30" in body["otpauthUri"]
    assert body["qrSvg"].startswith("<svg") and body["qrSvg"].rstrip().endswith("</svg>")
    device = SealedTotpDevice.objects.get(user=client.user)
    assert device.confirmed is False
    assert client.get(STATUS).json()["totp"] == {"enabled": False}
    # An unfinished set-up is not a second factor.
    assert password_login(APIClient(), client.user.email).status_code == 200


def test_setup_again_replaces_an_unfinished_device(auth_client):
    client = auth_client()
    first = client.post(SETUP, {}, format="json").json()["secret"]
    second = client.post(SETUP, {}, format="json").json()["secret"]
    assert first != second
    assert SealedTotpDevice.objects.filter(user=client.user).count() == 1
    stale = client.post(CONFIRM, {"code": code_at(first)}, format="json")
    assert stale.status_code == 401 and stale.json()["code"] == "MFA_INVALID_CODE"


def test_confirm_with_a_wrong_code_leaves_totp_off(auth_client, frozen):
    client = auth_client()
    secret = client.post(SETUP, {}, format="json").json()["secret"]
    response = client.post(CONFIRM, {"code": wrong_code(secret)}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "MFA_INVALID_CODE"
    assert SealedTotpDevice.objects.get(user=client.user).confirmed is False
    assert not events(client.user, "MFA_ENABLED").exists()
    frozen.tick(2)
    garbage = client.post(CONFIRM, {"code": "12345a"}, format="json")
    assert garbage.json()["code"] == "MFA_INVALID_CODE"


def test_confirm_enables_totp_and_shows_ten_backup_codes_once(auth_client, mailoutbox):
    client = auth_client()
    secret = client.post(SETUP, {}, format="json").json()["secret"]
    mailoutbox.clear()
    response = client.post(CONFIRM, {"code": code_at(secret)}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is True
    codes = body["backupCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code.replace("-", "")) * 5 >= 64 for code in codes)  # base32: ≥ 64 bits
    assert client.get(STATUS).json() == {
        "totp": {"enabled": True},
        "backupCodes": {"remaining": 10},
        "passkeys": {"count": 0},
    }
    assert events(client.user, "MFA_ENABLED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]
    assert "sign-in methods changed" in mailoutbox[0].subject
    assert "authenticator app was added" in mailoutbox[0].body
    assert secret not in mailoutbox[0].body


def test_setup_while_enabled_is_a_conflict_and_confirm_needs_a_setup(auth_client, frozen):
    client = auth_client()
    none_yet = client.post(CONFIRM, {"code": "123456"}, format="json")
    assert none_yet.status_code == 404 and none_yet.json()["code"] == "NOT_FOUND"
    enable_totp(client, frozen)
    again = client.post(SETUP, {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    confirm = client.post(CONFIRM, {"code": "123456"}, format="json")
    assert confirm.status_code == 409


def test_second_factor_endpoints_need_a_signed_in_user(api_client):
    calls = [("get", STATUS), ("post", SETUP), ("post", CONFIRM), ("delete", TOTP)]
    for method, path in [*calls, ("post", BACKUP_CODES)]:
        response = getattr(api_client, method)(path, {}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


# --- Two-step sign-in -------------------------------------------------------------------------


def test_password_sign_in_with_totp_needs_the_second_step(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    anonymous = APIClient()
    response = password_login(anonymous, client.user.email)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "MFA_REQUIRED"
    assert body["details"]["methods"] == ["totp", "backup_code"]
    assert "accessToken" not in body and not response.cookies.get("mana.session_token")
    token = body["details"]["mfaToken"]
    challenge = OneTimeToken.objects.get(purpose="mfa", user=client.user)
    assert challenge.token_hash != token and challenge.payload["firstFactor"] == "password"
    assert challenge.expires_at == timezone.now() + timedelta(seconds=300)

    done = finish(anonymous, token, code_at(secret))
    assert done.status_code == 200
    assert done.json()["user"]["id"] == str(client.user.id)
    assert done.json()["tokenType"] == "Bearer"
    assert done.cookies["mana.session_token"].value
    assert done.cookies["mana.device"].value  # the browser is now a known device
    session = Session.objects.filter(user=client.user).order_by("-created_at").first()
    assert session.auth_method == "password+totp"
    login = events(client.user, "LOGIN_SUCCESS").order_by("-created_at").first()
    assert login.metadata["method"] == "password+totp"
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {done.json()['accessToken']}")
    assert bearer.get(STATUS).status_code == 200

    frozen.tick(STEP)
    reused = finish(anonymous, token, code_at(secret))
    assert reused.status_code == 400 and reused.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_a_code_is_accepted_only_once(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    code = code_at(secret)
    assert finish(APIClient(), mfa_token(APIClient(), client.user.email), code).status_code == 200
    frozen.tick(5)  # same step: the code is still "current", but already used
    replay = finish(APIClient(), mfa_token(APIClient(), client.user.email), code)
    assert replay.status_code == 401 and replay.json()["code"] == "MFA_INVALID_CODE"
    frozen.tick(STEP)
    fresh = finish(APIClient(), mfa_token(APIClient(), client.user.email), code_at(secret))
    assert fresh.status_code == 200


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
def test_clock_drift_of_one_step_is_accepted_and_of_two_refused(
    auth_client, frozen, offset, accepted
):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    frozen.tick(3 * STEP)  # well past the confirmation step, so -2 is not a replay
    now = timezone.now().timestamp()
    code = code_at(secret, now + offset * STEP)
    if code == code_at(secret, now):  # astronomically unlikely; keep the test honest
        pytest.skip("colliding codes")
    response = finish(APIClient(), mfa_token(APIClient(), client.user.email), code)
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 401 and response.json()["code"] == "MFA_INVALID_CODE"


def test_a_wrong_code_counts_like_a_wrong_password_but_keeps_the_token(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    anonymous = APIClient()
    token = mfa_token(anonymous, client.user.email)
    response = finish(anonymous, token, wrong_code(secret))
    assert response.status_code == 401
    assert response.json()["code"] == "MFA_INVALID_CODE"
    assert response.json()["details"] == {"attemptsRemaining": 4}
    throttle = LoginThrottle.objects.get(scope=f"acct:{client.user.email.lower()}")
    assert throttle.failures == 1 and throttle.locked_until is None
    failure = events(client.user, "LOGIN_FAILURE").get()
    assert failure.metadata == {"reason": "mfa", "method": "totp", "failures": 1}
    assert events(client.user, "MFA_CHALLENGE_FAILED").get().metadata == {
        "method": "totp",
        "attempts": 1,
    }
    frozen.tick(1)  # django-otp's back-off after one failure
    assert finish(anonymous, token, code_at(secret)).status_code == 200


def test_an_immediate_retry_meets_the_device_back_off(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    token = mfa_token(APIClient(), client.user.email)
    assert finish(APIClient(), token, wrong_code(secret)).status_code == 401
    throttled = finish(APIClient(), token, code_at(secret))
    assert throttled.status_code == 429 and throttled.json()["code"] == "RATE_LIMITED"
    assert throttled.json()["details"]["retryAfter"] >= 1
    assert events(client.user, "MFA_CHALLENGE_FAILED").count() == 1  # the retry did not count
    frozen.tick(2)
    assert finish(APIClient(), token, code_at(secret)).status_code == 200


def test_five_wrong_codes_void_the_token_and_lock_password_sign_in(auth_client, frozen, mailoutbox):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    token = mfa_token(APIClient(), client.user.email)
    mailoutbox.clear()
    for attempt in range(1, 6):
        response = finish(APIClient(), token, wrong_code(secret))
        assert response.json()["code"] == "MFA_INVALID_CODE"
        assert response.json()["details"]["attemptsRemaining"] == 5 - attempt
        frozen.tick(16)
    spent = finish(APIClient(), token, code_at(secret))
    assert spent.status_code == 400 and spent.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert events(client.user, "ACCOUNT_LOCKED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]
    locked = password_login(APIClient(), client.user.email)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"


def test_an_expired_mfa_token_is_refused(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    token = mfa_token(APIClient(), client.user.email)
    frozen.tick(301)
    response = finish(APIClient(), token, code_at(secret))
    assert response.status_code == 400 and response.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not LoginThrottle.objects.exists()


@pytest.mark.parametrize("token", ["", "x" * 201, "not-a-token"])
def test_unknown_or_malformed_mfa_tokens_are_refused(api_client, token):
    response = finish(api_client, token, "123456")
    assert response.status_code == 400
    assert response.json()["code"] in ("VERIFICATION_TOKEN_INVALID", "VALIDATION_ERROR")


def test_an_unknown_method_is_a_validation_error(api_client):
    response = api_client.post(
        "/api/v1/auth/login/mfa",
        {"mfaToken": "t", "code": "123456", "method": "sms"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert "method" in response.json()["details"]["fields"]


def test_the_second_step_is_rate_limited_per_ip(api_client):
    for _ in range(30):
        assert finish(api_client, "unknown", "123456").status_code == 400
    limited = finish(api_client, "unknown", "123456")
    assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
    assert limited["Retry-After"]


def test_a_token_issued_for_one_user_does_not_accept_another_users_code(
    auth_client, user_factory, frozen
):
    alice = auth_client()
    bob = auth_client(user_factory())
    enable_totp(alice, frozen)
    bob_secret, _ = enable_totp(bob, frozen)
    token = mfa_token(APIClient(), alice.user.email)
    response = finish(APIClient(), token, code_at(bob_secret))
    assert response.status_code == 401 and response.json()["code"] == "MFA_INVALID_CODE"


# --- Backup codes -----------------------------------------------------------------------------


def test_a_backup_code_signs_in_once(auth_client, frozen):
    client = auth_client()
    _, codes = enable_totp(client, frozen)
    done = finish(APIClient(), mfa_token(APIClient(), client.user.email), codes[0], "backup_code")
    assert done.status_code == 200
    session = Session.objects.filter(user=client.user).order_by("-created_at").first()
    assert session.auth_method == "password+backup_code"
    assert client.get(STATUS).json()["backupCodes"] == {"remaining": 9}
    frozen.tick(2)
    again = finish(APIClient(), mfa_token(APIClient(), client.user.email), codes[0], "backup_code")
    assert again.status_code == 401 and again.json()["code"] == "MFA_INVALID_CODE"


def test_a_backup_code_is_forgiving_about_case_grouping_and_spaces(auth_client, frozen):
    client = auth_client()
    _, codes = enable_totp(client, frozen)
    typed = " " + codes[3].replace("-", " ").upper() + " "
    done = finish(APIClient(), mfa_token(APIClient(), client.user.email), typed, "backup_code")
    assert done.status_code == 200


def test_a_backup_code_is_not_a_totp_code_and_vice_versa(auth_client, frozen):
    client = auth_client()
    secret, codes = enable_totp(client, frozen)
    token = mfa_token(APIClient(), client.user.email)
    assert finish(APIClient(), token, codes[0], "totp").status_code == 401
    assert finish(APIClient(), token, code_at(secret), "backup_code").status_code == 401
    assert BackupCode.objects.filter(device__user=client.user).count() == 10


def test_regenerating_backup_codes_voids_the_old_set(auth_client, frozen, mailoutbox):
    client = auth_client()
    _, old = enable_totp(client, frozen)
    mailoutbox.clear()
    wrong = client.post(BACKUP_CODES, {"password": "not-my-password"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["code"] == "REAUTH_REQUIRED"
    response = client.post(BACKUP_CODES, {"password": PASSWORD}, format="json")
    assert response.status_code == 200
    new = response.json()["backupCodes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert events(client.user, "BACKUP_CODES_REGENERATED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]
    refused = finish(APIClient(), mfa_token(APIClient(), client.user.email), old[0], "backup_code")
    assert refused.status_code == 401 and refused.json()["code"] == "MFA_INVALID_CODE"
    frozen.tick(2)
    token = mfa_token(APIClient(), client.user.email)
    assert finish(APIClient(), token, new[0], "backup_code").status_code == 200


def test_regenerating_backup_codes_needs_totp(auth_client):
    response = auth_client().post(BACKUP_CODES, {"password": PASSWORD}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "CONFLICT"


def test_only_totp_is_offered_once_every_backup_code_is_used(auth_client, frozen):
    client = auth_client()
    enable_totp(client, frozen)
    BackupCode.objects.filter(device__user=client.user).delete()
    response = password_login(APIClient(), client.user.email)
    assert response.json()["details"]["methods"] == ["totp"]


# --- Storage ----------------------------------------------------------------------------------


def _every_value_in_the_database():
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                yield from row


def test_the_database_holds_no_plaintext_totp_secret_or_backup_code(auth_client, frozen):
    client = auth_client()
    secret, codes = enable_totp(client, frozen)
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    needles = [secret, secret.lower(), seed.hex(), base64.b64encode(seed).decode()]
    for code in codes:
        needles += [code, code.replace("-", ""), code.upper(), code.replace("-", "").upper()]
    checked = 0
    for value in _every_value_in_the_database():
        if isinstance(value, memoryview | bytes):
            blob = bytes(value)
            assert seed not in blob
            text = blob.hex()
        else:
            text = str(value)
        assert not any(needle in text for needle in needles), text[:80]
        checked += 1
    assert checked > 100
    device = SealedTotpDevice.objects.get(user=client.user)
    assert device.seed_open() == seed  # sealed, not lost


def test_a_sealed_seed_opens_only_for_its_owner(auth_client, user_factory, frozen):
    alice = auth_client()
    enable_totp(alice, frozen)
    mallory = user_factory()
    stolen = SealedTotpDevice.objects.get(user=alice.user)
    forged = SealedTotpDevice(
        user=mallory,
        name="copied",
        seed_ciphertext=stolen.seed_ciphertext,
        seed_iv=stolen.seed_iv,
        kek_id=stolen.kek_id,
    )
    with pytest.raises(UnwrapError):
        forged.seed_open()


def test_seeds_rewrap_under_a_new_kek_and_keep_working(auth_client, frozen, settings, capsys):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    old, new = settings.MANA_AUTH_KEK, bytes(range(32))
    settings.MANA_AUTH_KEK = new
    settings.MANA_AUTH_KEKS_RETIRED = [old]
    call_command("rewrap_vaults", "--kind", "totp_secrets", "--batch-size", "1")
    assert "totp_secrets: re-wrapped 1 of 1" in capsys.readouterr().out
    assert SealedTotpDevice.objects.get(user=client.user).kek_id == kek_id(new)
    settings.MANA_AUTH_KEKS_RETIRED = []
    done = finish(APIClient(), mfa_token(APIClient(), client.user.email), code_at(secret))
    assert done.status_code == 200
    assert totp_seeds_rewrap(batch_size=1) == (0, 1)


# --- Turning TOTP off and re-authentication ---------------------------------------------------


def test_disabling_totp_needs_the_password_and_removes_every_code(auth_client, frozen, mailoutbox):
    client = auth_client()
    enable_totp(client, frozen)
    mailoutbox.clear()
    wrong = client.delete(TOTP, {"password": "not-my-password"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["code"] == "REAUTH_REQUIRED"
    assert SealedTotpDevice.objects.filter(user=client.user).exists()
    response = client.delete(TOTP, {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert not SealedTotpDevice.objects.filter(user=client.user).exists()
    assert not BackupCodeDevice.objects.filter(user=client.user).exists()
    assert events(client.user, "MFA_DISABLED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]
    assert "turned off" in mailoutbox[0].body
    assert password_login(APIClient(), client.user.email).status_code == 200
    gone = client.delete(TOTP, {"password": PASSWORD}, format="json")
    assert gone.status_code == 404 and gone.json()["code"] == "NOT_FOUND"


def test_a_german_account_gets_the_notice_in_german(auth_client, user_factory, frozen, mailoutbox):
    client = auth_client(user_factory(locale="de"))
    mailoutbox.clear()
    enable_totp(client, frozen)
    assert "Anmeldemethoden" in mailoutbox[0].subject
    assert "Authenticator-App wurde" in mailoutbox[0].body


SENSITIVE_MFA_ACTIONS = [
    ("delete", TOTP),
    ("post", BACKUP_CODES),
    ("post", SETUP),
]


@pytest.mark.parametrize(("method", "path"), SENSITIVE_MFA_ACTIONS)
def test_a_stale_session_needs_the_password_for_second_factor_changes(
    auth_client, frozen, method, path
):
    client = auth_client()
    if path != SETUP:
        enable_totp(client, frozen)
    frozen.tick(11 * 60)  # the sign-in is now older than the 10-minute window
    call = getattr(client, method)
    for body in ({}, {"password": ""}, {"password": "not-my-password"}):
        response = call(path, body, format="json")
        assert response.status_code == 401 and response.json()["code"] == "REAUTH_REQUIRED"
    assert call(path, {"password": PASSWORD}, format="json").status_code in (200, 204)


@pytest.mark.parametrize(("method", "path"), SENSITIVE_MFA_ACTIONS)
def test_a_fresh_sign_in_is_enough_for_second_factor_changes(auth_client, frozen, method, path):
    client = auth_client()
    if path != SETUP:
        enable_totp(client, frozen)
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code in (200, 204)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "post",
            "/api/v1/auth/change-password",
            {"currentPassword": "nope-nope-1", "newPassword": "a-new-passphrase-42"},
        ),
        (
            "post",
            "/api/v1/auth/change-email",
            {"newEmail": "new@example.com", "password": "nope-nope-1"},
        ),
        ("delete", "/api/v1/auth/account", {"password": "nope-nope-1"}),
    ],
)
def test_a_stale_session_with_a_wrong_password_cannot_change_the_account(
    auth_client, frozen, method, path, body
):
    client = auth_client()
    frozen.tick(11 * 60)
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == 401 and response.json()["code"] == "REAUTH_REQUIRED"
    user = User.objects.get(pk=client.user.pk)
    assert user.check_password(PASSWORD) and user.email == client.user.email


# --- Operators --------------------------------------------------------------------------------


def test_enroll_admin_totp_prints_the_uri_once_and_confirms_the_device(
    user_factory, capsys, mailoutbox
):
    admin = user_factory(email="ops@example.com", is_staff=True)
    mailoutbox.clear()
    call_command("enroll_admin_totp", "OPS@example.com")
    out = capsys.readouterr().out
    uri = next(line for line in out.splitlines() if line.startswith("otpauth://"))
    secret = pyotp.parse_uri(uri).secret
    device = SealedTotpDevice.objects.get(user=admin)
    assert device.confirmed and device.seed_open() == base64.b32decode(
        secret + "=" * (-len(secret) % 8)
    )
    assert events(admin, "MFA_ENABLED").get().metadata["via"] == "enroll_admin_totp"
    assert len(mailoutbox) == 1
    with pytest.raises(Exception, match="already has an authenticator"):
        call_command("enroll_admin_totp", "ops@example.com")
    call_command("enroll_admin_totp", "ops@example.com", "--replace")
    assert SealedTotpDevice.objects.get(user=admin).seed_open() != device.seed_open()


def test_enroll_admin_totp_refuses_non_staff(user_factory):
    user_factory(email="plain@example.com")
    with pytest.raises(Exception, match="not an active staff account"):
        call_command("enroll_admin_totp", "plain@example.com")
    with pytest.raises(Exception, match="No account"):
        call_command("enroll_admin_totp", "nobody@example.com")


def test_the_device_back_off_is_capped_so_failures_cannot_freeze_an_account(auth_client, frozen):
    client = auth_client()
    enable_totp(client, frozen)
    device = SealedTotpDevice.objects.get(user=client.user)
    device.throttling_failure_count = 40  # django-otp alone would wait 2**39 seconds
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    assert device.verify_is_allowed()[0] is False
    frozen.tick(61)
    assert device.verify_is_allowed() == (True, None)
