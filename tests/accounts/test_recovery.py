"""Recovery that really recovers (issue 15, point 2).

An attacker who held a session (and the password) left ways back in that survived the owner's
password reset: a pending change-email link moved the recovered account to his address, and a
passkey or API key he added kept working. Now a reset or change retires every outstanding
link; the reset page can list the account's passkeys, API keys and 2FA and revoke them in the
same step (``revokeFactors``); the "password changed" mail lists them and carries a "this
wasn't me" link whose report locks the intruder out, and the reset after such a report revokes
everything.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import ApiKey, OneTimeToken, User
from security.models import SecurityEvent
from security.otp.models import SealedTotpDevice
from tests.conftest import PASSWORD, login_tokens
from tests.passkeys.authenticator import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftAuthenticator
from tests.passkeys.conftest import (
    register_options,
    register_verify,
    sign_in_options,
    sign_in_verify,
)

pytestmark = pytest.mark.django_db
NEW = "the-owners-new-passphrase-9"
ATTACKERS = "the-attackers-passphrase-13"
FORGOT = "/api/v1/auth/forgot-password"
RESET = "/api/v1/auth/reset-password"
PREVIEW = "/api/v1/auth/reset-password/preview"
REPORT = "/api/v1/auth/report-compromise"


@pytest.fixture(autouse=True)
def relying_party(settings: Any) -> None:
    settings.WEBAUTHN_RP_ID, settings.WEBAUTHN_ORIGINS = DEFAULT_RP_ID, [DEFAULT_ORIGIN]


def token_in(mail: Any) -> str:
    link = re.search(r"https?://\S+", mail.body).group(0)
    return parse_qs(urlsplit(link).query)["token"][0]


def report_token_in(mail: Any) -> str:
    link = re.search(r"https?://\S+/report-compromise\?\S+", mail.body).group(0)
    return parse_qs(urlsplit(link).query)["token"][0]


def mail_to(mailoutbox: list[Any], address: str, subject_part: str) -> Any:
    found = [m for m in mailoutbox if m.to == [address] and subject_part in m.subject]
    assert found, [(m.to, m.subject) for m in mailoutbox]
    return found[-1]


def signed_in(user: User, password: str = PASSWORD) -> tuple[APIClient, dict[str, Any]]:
    client = APIClient()
    tokens = login_tokens(client, user, password)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    return client, tokens


def plant_backdoors(client: APIClient) -> tuple[SoftAuthenticator, str, str]:
    """What an attacker with a fresh session adds: a passkey, an API key, an authenticator."""
    device = SoftAuthenticator()
    added = register_verify(client, device.create(register_options(client, None).json()), "Spare")
    assert added.status_code == 201, added.content
    created = client.post(
        "/api/v1/me/api-keys", {"name": "sync-helper", "scopes": ["profile:read"]}, format="json"
    )
    assert created.status_code == 201, created.content
    setup = client.post("/api/v1/me/mfa/totp/setup", {}, format="json").json()
    confirmed = client.post(
        "/api/v1/me/mfa/totp/confirm", {"code": pyotp.TOTP(setup["secret"]).now()}, format="json"
    )
    assert confirmed.status_code == 200, confirmed.content
    return device, created.json()["key"], setup["secret"]


def api_key_works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get("/api/v1/auth/profile").status_code == 200


def passkey_works(device: SoftAuthenticator) -> bool:
    options = sign_in_options(APIClient()).json()
    response = sign_in_verify(APIClient(), options["ceremonyId"], device.get(options))
    return response.status_code == 200


def reset_link(mailoutbox: list[Any], user: User) -> str:
    APIClient().post(FORGOT, {"email": user.email}, format="json")
    return token_in(mail_to(mailoutbox, user.email, "Reset your password"))


# --- Every outstanding link dies --------------------------------------------------------------


def test_a_pending_change_email_link_dies_with_a_password_reset(user_factory, mailoutbox):
    owner = user_factory(email="owner@example.com")
    attacker, _ = signed_in(owner)
    requested = attacker.post(
        "/api/v1/auth/change-email",
        {"newEmail": "attacker@evil.example", "password": PASSWORD},
        format="json",
    )
    assert requested.status_code == 202
    change = token_in(mail_to(mailoutbox, "attacker@evil.example", "Confirm"))
    reset = APIClient().post(
        RESET, {"token": reset_link(mailoutbox, owner), "newPassword": NEW}, format="json"
    )
    assert reset.status_code == 200
    moved = APIClient().post("/api/v1/auth/verify-email", {"token": change}, format="json")
    assert moved.status_code == 400 and moved.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert User.objects.get(pk=owner.pk).email == "owner@example.com"


def test_a_pending_change_email_link_dies_with_a_password_change(user_factory, mailoutbox):
    owner = user_factory(email="owner@example.com")
    attacker, _ = signed_in(owner)
    attacker.post(
        "/api/v1/auth/change-email",
        {"newEmail": "attacker@evil.example", "password": PASSWORD},
        format="json",
    )
    change = token_in(mail_to(mailoutbox, "attacker@evil.example", "Confirm"))
    own, _ = signed_in(owner)
    changed = own.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    assert changed.status_code == 200
    moved = APIClient().post("/api/v1/auth/verify-email", {"token": change}, format="json")
    assert moved.status_code == 400 and moved.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert User.objects.get(pk=owner.pk).email == "owner@example.com"


def test_a_reset_retires_every_outstanding_link_but_the_reports(user_factory, mailoutbox):
    owner = user_factory()
    APIClient().post("/api/v1/auth/magic-link", {"email": owner.email}, format="json")
    token = reset_link(mailoutbox, owner)
    reset = APIClient().post(RESET, {"token": token, "newPassword": NEW}, format="json")
    assert reset.status_code == 200
    live = OneTimeToken.objects.filter(user=owner, used_at__isnull=True)
    assert set(live.values_list("purpose", flat=True)) == {"report_compromise"}


# --- The reset page: list, then revoke in one step --------------------------------------------


def test_the_preview_lists_the_factors_and_leaves_the_link_usable(user_factory, mailoutbox):
    owner = user_factory()
    attacker, _ = signed_in(owner)
    plant_backdoors(attacker)
    token = reset_link(mailoutbox, owner)
    preview = APIClient().post(PREVIEW, {"token": token}, format="json")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["email"] == owner.email
    assert [p["name"] for p in body["passkeys"]] == ["Spare"]
    assert [k["name"] for k in body["apiKeys"]] == ["sync-helper"]
    assert body["apiKeys"][0]["prefix"].startswith("sk_live_")
    assert body["totp"] == {"enabled": True} and body["backupCodes"] == {"remaining": 10}
    assert body["compromiseReported"] is False and body["revokesFactors"] is False
    assert "key" not in body["apiKeys"][0] and "keyHash" not in body["apiKeys"][0]
    assert OneTimeToken.objects.get(purpose="reset_password").used_at is None
    again = APIClient().post(PREVIEW, {"token": token}, format="json")
    assert again.status_code == 200


@pytest.mark.parametrize("token", ["", "x" * 201, "no-such-token"])
def test_the_preview_refuses_unknown_tokens(api_client, token):
    response = api_client.post(PREVIEW, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("VERIFICATION_TOKEN_INVALID", "VALIDATION_ERROR")


def test_the_preview_refuses_a_used_or_expired_link(user_factory, mailoutbox):
    owner = user_factory()
    used = reset_link(mailoutbox, owner)
    APIClient().post(RESET, {"token": used, "newPassword": NEW}, format="json")
    refused = APIClient().post(PREVIEW, {"token": used}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    later = reset_link(mailoutbox, owner)
    with freeze_time(timezone.now() + timedelta(hours=2)):
        expired = APIClient().post(PREVIEW, {"token": later}, format="json")
    assert expired.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_a_reset_with_revoke_factors_locks_out_the_attackers_backdoors(user_factory, mailoutbox):
    owner = user_factory()
    attacker, tokens = signed_in(owner)
    device, key, _ = plant_backdoors(attacker)
    assert api_key_works(key) and passkey_works(device)
    reset = APIClient().post(
        RESET,
        {"token": reset_link(mailoutbox, owner), "newPassword": NEW, "revokeFactors": True},
        format="json",
    )
    assert reset.status_code == 200, reset.content
    assert reset.json() == {
        "ok": True,
        "factorsRevoked": True,
        "revoked": {"passkeys": 1, "apiKeys": 1, "totp": True},
        "reason": "requested",
    }
    assert not api_key_works(key)
    assert not passkey_works(device)
    assert not SealedTotpDevice.objects.filter(user=owner).exists()
    stale = APIClient().post(
        "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
    )
    assert stale.status_code == 401
    event = SecurityEvent.objects.get(user=owner, type="FACTORS_REVOKED")
    assert event.metadata == {
        "reason": "requested",
        "passkeyCount": 1,
        "apiKeyCount": 1,
        "totpRemoved": True,
    }
    # The owner signs in with the new password alone: the stranger's authenticator is gone.
    assert login_tokens(APIClient(), owner, NEW)["accessToken"]


def test_a_plain_reset_keeps_the_factors_and_the_mail_lists_them(user_factory, mailoutbox):
    owner = user_factory()
    attacker, _ = signed_in(owner)
    _, key, _ = plant_backdoors(attacker)
    reset = APIClient().post(
        RESET, {"token": reset_link(mailoutbox, owner), "newPassword": NEW}, format="json"
    )
    assert reset.json()["factorsRevoked"] is False and reset.json()["revoked"] is None
    assert api_key_works(key)  # kept, as asked — and listed in the notice:
    notice = mail_to(mailoutbox, owner.email, "password was changed")
    assert "reset with a link" in notice.body
    assert "Passkey: Spare" in notice.body
    prefix = ApiKey.objects.get(user=owner).prefix
    assert f"API key: sync-helper ({prefix}…)" in notice.body
    assert "Two-step sign-in: on (authenticator app, 10 backup codes left)" in notice.body
    assert "/report-compromise?token=" in notice.body
    html = notice.alternatives[0][0]
    assert "<li>Passkey: Spare</li>" in html and "report-compromise" in html


def test_the_change_password_mail_lists_the_factors_in_german(user_factory, mailoutbox):
    owner = user_factory(locale="de")
    client, _ = signed_in(owner)
    client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    notice = mail_to(mailoutbox, owner.email, "Passwort wurde geändert")
    assert "Anmeldung in zwei Schritten: aus" in notice.body
    assert "/report-compromise?token=" in notice.body


# --- "This wasn't me" -------------------------------------------------------------------------


def test_a_report_locks_the_intruder_out_and_the_next_reset_revokes_everything(
    user_factory, mailoutbox
):
    owner = user_factory(email="owner@example.com")
    attacker, tokens = signed_in(owner)  # a stolen session, and the password
    device, key, _ = plant_backdoors(attacker)
    attacker.post(
        "/api/v1/auth/change-email",
        {"newEmail": "attacker@evil.example", "password": PASSWORD},
        format="json",
    )
    change = token_in(mail_to(mailoutbox, "attacker@evil.example", "Confirm"))
    attacker.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": ATTACKERS},
        format="json",
    )
    notice = mail_to(mailoutbox, owner.email, "password was changed")
    mailoutbox.clear()
    reported = APIClient().post(REPORT, {"token": report_token_in(notice)}, format="json")
    assert reported.status_code == 200, reported.content
    assert reported.json() == {
        "reported": True,
        "revoked": {"sessions": 1, "passkeys": 1, "apiKeys": 1},
    }
    # The intruder is out: session, password, passkey, API key, the pending change of address.
    stale = APIClient().post(
        "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
    )
    assert stale.status_code == 401
    for password in (ATTACKERS, PASSWORD):
        refused = APIClient().post(
            "/api/v1/auth/login", {"email": owner.email, "password": password}, format="json"
        )
        assert refused.json()["code"] == "INVALID_CREDENTIALS"
    assert not api_key_works(key) and not passkey_works(device)
    moved = APIClient().post("/api/v1/auth/verify-email", {"token": change}, format="json")
    assert moved.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert SecurityEvent.objects.filter(user=owner, type="ACCOUNT_COMPROMISE_REPORTED").count() == 1
    # The owner gets a link to choose a new password; the page knows all will be revoked.
    lockdown = mail_to(mailoutbox, owner.email, "locked down")
    preview = APIClient().post(PREVIEW, {"token": token_in(lockdown)}, format="json").json()
    assert preview["compromiseReported"] is True and preview["revokesFactors"] is True
    assert preview["totp"] == {"enabled": True}  # the stranger's authenticator, until the reset
    reset = APIClient().post(
        RESET, {"token": token_in(lockdown), "newPassword": NEW}, format="json"
    )
    assert reset.json() == {
        "ok": True,
        "factorsRevoked": True,
        "revoked": {"passkeys": 0, "apiKeys": 0, "totp": True},
        "reason": "compromise_reported",
    }
    assert not SealedTotpDevice.objects.filter(user=owner).exists()
    assert login_tokens(APIClient(), owner, NEW)["accessToken"]  # no stranger's second factor
    assert User.objects.get(pk=owner.pk).email == "owner@example.com"
    # The report is settled: a later reset revokes nothing unless asked.
    later = APIClient().post(
        RESET, {"token": reset_link(mailoutbox, owner), "newPassword": NEW + "x"}, format="json"
    )
    assert later.json()["factorsRevoked"] is False


def test_the_factor_changed_notice_carries_a_working_report_link(auth_client, mailoutbox):
    client = auth_client()
    setup = client.post("/api/v1/me/mfa/totp/setup", {}, format="json").json()
    client.post(
        "/api/v1/me/mfa/totp/confirm", {"code": pyotp.TOTP(setup["secret"]).now()}, format="json"
    )
    notice = mail_to(mailoutbox, client.user.email, "sign-in methods changed")
    reported = APIClient().post(REPORT, {"token": report_token_in(notice)}, format="json")
    assert reported.status_code == 200
    assert not User.objects.get(pk=client.user.pk).has_usable_password()


def test_the_change_email_notice_carries_a_report_link_that_cancels_the_change(
    auth_client, mailoutbox
):
    client = auth_client()
    client.post(
        "/api/v1/auth/change-email",
        {"newEmail": "elsewhere@example.com", "password": PASSWORD},
        format="json",
    )
    notice = mail_to(mailoutbox, client.user.email, "change of your email")
    change = token_in(mail_to(mailoutbox, "elsewhere@example.com", "Confirm"))
    reported = APIClient().post(REPORT, {"token": report_token_in(notice)}, format="json")
    assert reported.status_code == 200
    moved = APIClient().post("/api/v1/auth/verify-email", {"token": change}, format="json")
    assert moved.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_a_report_link_works_once_and_expires(auth_client, mailoutbox):
    client = auth_client()
    client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    token = report_token_in(mail_to(mailoutbox, client.user.email, "password was changed"))
    with freeze_time(timezone.now() + timedelta(days=8)):
        expired = APIClient().post(REPORT, {"token": token}, format="json")
    assert expired.status_code == 400 and expired.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert APIClient().post(REPORT, {"token": token}, format="json").status_code == 200
    again = APIClient().post(REPORT, {"token": token}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert SecurityEvent.objects.filter(type="ACCOUNT_COMPROMISE_REPORTED").count() == 1


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": "unknown"}, {"token": 5}])
def test_a_bad_report_changes_nothing(api_client, user_factory, body):
    user = user_factory()
    response = api_client.post(REPORT, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("VALIDATION_ERROR", "VERIFICATION_TOKEN_INVALID")
    assert User.objects.get(pk=user.pk).has_usable_password()
    assert not SecurityEvent.objects.filter(type="ACCOUNT_COMPROMISE_REPORTED").exists()


def test_a_reset_token_is_not_a_report_token_and_vice_versa(auth_client, mailoutbox):
    client = auth_client()
    reset = reset_link(mailoutbox, client.user)
    refused = APIClient().post(REPORT, {"token": reset}, format="json")
    assert refused.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    report = report_token_in(mail_to(mailoutbox, client.user.email, "password was changed"))
    as_reset = APIClient().post(RESET, {"token": report, "newPassword": NEW + "y"}, format="json")
    assert as_reset.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_factor_names_reach_the_mail_as_one_plain_line_without_links(user_factory, mailoutbox):
    owner = user_factory()
    client, _ = signed_in(owner)
    device = SoftAuthenticator()
    name = "Security team: visit https://evil.example/fix now"
    added = register_verify(client, device.create(register_options(client, None).json()), name)
    assert added.status_code == 201, added.content
    client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    body = mail_to(mailoutbox, owner.email, "password was changed").body
    assert "Passkey: Security team: visit now" in body
    assert "evil.example" not in body


def test_a_reset_succeeds_while_the_mail_server_is_down(user_factory, mailoutbox, settings):
    owner = user_factory()
    token = reset_link(mailoutbox, owner)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    reset = APIClient().post(RESET, {"token": token, "newPassword": NEW}, format="json")
    assert reset.status_code == 200
    assert login_tokens(APIClient(), owner, NEW)["accessToken"]
