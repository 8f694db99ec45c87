"""Passkey sign-ins are login attempts with the method ``passkey``, successful or not (issue 19,
item 5), without a statement more on the sign-in path (its budget: test_query_budgets)."""

from __future__ import annotations

import pytest

from security.models import LoginAttempt, SecurityEvent
from tests.passkeys.authenticator import SoftAuthenticator

pytestmark = pytest.mark.django_db


def test_a_passkey_sign_in_records_its_success(passkey_user, passkey_sign_in):
    client, device, _ = passkey_user()
    LoginAttempt.objects.all().delete()  # the password sign-in that made the client
    assert passkey_sign_in(device).status_code == 200
    attempt = LoginAttempt.objects.get()
    assert (attempt.method, attempt.success, attempt.user) == ("passkey", True, client.user)
    assert attempt.email_key == client.user.email_key


def test_a_refused_assertion_records_a_failed_passkey_attempt(passkey_user, passkey_sign_in):
    client, device, passkey = passkey_user()
    LoginAttempt.objects.all().delete()
    assert passkey_sign_in(device, tamper_signature=True).status_code == 401
    attempt = LoginAttempt.objects.get()
    assert (attempt.method, attempt.success, attempt.reason) == ("passkey", False, "passkey")
    assert attempt.user == client.user
    failure = SecurityEvent.objects.get(user=client.user, type="LOGIN_FAILURE")
    assert failure.metadata == {"method": "passkey", "passkeyId": passkey["id"]}


def test_an_unknown_credential_records_an_attempt_without_an_account(passkey_user, passkey_sign_in):
    passkey_user()
    LoginAttempt.objects.all().delete()
    stranger = SoftAuthenticator()
    stranger.user_handle = b"\x00" * 16
    assert passkey_sign_in(stranger).status_code == 401
    attempt = LoginAttempt.objects.get()
    assert (attempt.method, attempt.success, attempt.reason) == (
        "passkey",
        False,
        "unknown_credential",
    )
    assert attempt.user is None and attempt.email_key == ""
