"""Every factor's attempt is a login attempt with its method, successful or not (issue 19,
item 5): password, TOTP, backup code, magic link, passkey (``tests/passkeys``) and the
operators' console; operators filter them by method and outcome in the console."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.mfa import totp_enroll_confirmed
from mana_auth.clientip import RequestMeta
from security.models import LoginAttempt, SecurityEvent
from tests.accounts.signin.mfa_helpers import (
    STEP,
    code_at,
    enable_totp,
    finish,
    frozen_clock,
    mfa_token,
    password_login,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen():
    with frozen_clock() as clock:
        yield clock


def rows(**filters):
    """``(method, success, reason)`` of the matching attempts, oldest first."""
    return list(
        LoginAttempt.objects.filter(**filters)
        .order_by("created_at", "id")
        .values_list("method", "success", "reason")
    )


def test_a_password_sign_in_records_its_success_with_the_event(api_client, user_factory):
    user = user_factory()
    assert password_login(api_client, user.email).status_code == 200
    assert rows(user=user) == [("password", True, "")]
    attempt = LoginAttempt.objects.get(user=user)
    assert attempt.email_key == user.email_key and attempt.ip_address == "127.0.0.1"
    assert attempt.known_device is False
    event = SecurityEvent.objects.get(user=user, type="LOGIN_SUCCESS")
    assert event.metadata["method"] == "password"
    # A browser that signed in before is a known device.
    assert password_login(api_client, user.email).status_code == 200
    assert LoginAttempt.objects.filter(user=user).latest("id").known_device is True


def test_a_wrong_password_and_an_unknown_address_record_a_failed_password(api_client, user_factory):
    user = user_factory()
    assert password_login(api_client, user.email, "not-the-password").status_code == 401
    assert password_login(api_client, "ghost@example.com", "not-the-password").status_code == 401
    assert rows(user=user) == [("password", False, "password")]
    assert rows(email_key="ghost@example.com") == [("password", False, "unknown")]


def test_totp_attempts_are_recorded_after_the_password(api_client, auth_client, frozen):
    client = auth_client()
    user = client.user
    secret, _ = enable_totp(client, frozen)
    LoginAttempt.objects.all().delete()  # the sign-in that made the client
    token = mfa_token(api_client, user.email)
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    assert finish(api_client, token, wrong).status_code == 401
    frozen.tick(STEP)
    assert finish(api_client, token, code_at(secret)).status_code == 200
    assert rows(user=user) == [
        ("password", True, ""),  # the first factor, MFA_REQUIRED answered
        ("totp", False, "mfa"),
        ("totp", True, ""),
    ]
    assert SecurityEvent.objects.filter(
        user=user, type="LOGIN_SUCCESS", metadata__method="password+totp"
    ).exists()


def test_backup_code_attempts_are_recorded_with_their_method(api_client, auth_client, frozen):
    client = auth_client()
    user = client.user
    _, backup_codes = enable_totp(client, frozen)
    LoginAttempt.objects.all().delete()
    token = mfa_token(api_client, user.email)
    assert finish(api_client, token, "wrong-code", method="backup_code").status_code == 401
    frozen.tick(STEP)  # past the device's back-off
    assert finish(api_client, token, backup_codes[0], method="backup_code").status_code == 200
    assert rows(user=user) == [
        ("password", True, ""),
        ("backup_code", False, "mfa"),
        ("backup_code", True, ""),
    ]


def _magic_token(mail) -> str:
    link = re.search(r"https?://\S+", mail.body).group(0)
    return parse_qs(urlsplit(link).query)["token"][0]


def test_magic_link_attempts_are_recorded(api_client, user_factory, mailoutbox):
    user = user_factory()
    mailoutbox.clear()
    api_client.post("/api/v1/auth/magic-link", {"email": user.email}, format="json")
    token = _magic_token(mailoutbox[0])
    verify = "/api/v1/auth/magic-link/verify"
    assert api_client.post(verify, {"token": token}, format="json").status_code == 200
    replay = api_client.post(verify, {"token": token}, format="json")
    assert replay.status_code == 400 and replay.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert rows(user=user) == [("magic_link", True, "")]
    # A used or unknown link names no account: its row has none.
    assert rows(user__isnull=True) == [("magic_link", False, "invalid_link")]
    assert LoginAttempt.objects.get(user__isnull=True).email_key == ""


def test_a_magic_link_before_a_second_factor_records_the_link_then_the_code(
    api_client, auth_client, frozen, mailoutbox
):
    client = auth_client()
    user = client.user
    secret, _ = enable_totp(client, frozen)
    LoginAttempt.objects.all().delete()
    mailoutbox.clear()
    api_client.post("/api/v1/auth/magic-link", {"email": user.email}, format="json")
    answer = api_client.post(
        "/api/v1/auth/magic-link/verify", {"token": _magic_token(mailoutbox[0])}, format="json"
    )
    assert answer.status_code == 401 and answer.json()["code"] == "MFA_REQUIRED"
    done = finish(api_client, answer.json()["details"]["mfaToken"], code_at(secret))
    assert done.status_code == 200
    assert rows(user=user) == [("magic_link", True, ""), ("totp", True, "")]


# --- The operators' console ------------------------------------------------------------------


def _console_login(client: Client, email: str, password: str, **otp: str):
    return client.post(
        "/admin/login/", {"username": email, "password": password, "next": "/admin/", **otp}
    )


def test_console_sign_ins_are_attempts_with_their_method(user_factory, frozen):
    staff = user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")
    enrolment = totp_enroll_confirmed(user=staff, meta=RequestMeta())
    secret = pyotp.parse_uri(enrolment.otpauth_uri).secret
    assert _console_login(Client(), staff.email, "not-the-password").status_code == 200
    frozen.tick(STEP)
    client = Client()
    done = _console_login(client, staff.email, PASSWORD, otp_token=code_at(secret))
    assert done.status_code == 302
    assert rows(user=staff) == [
        ("admin_console", False, "admin_password"),
        ("admin_console", True, ""),
    ]
    success = SecurityEvent.objects.get(user=staff, type="LOGIN_SUCCESS")
    assert success.metadata == {"method": "admin_console"}


def test_the_console_lists_attempts_filtered_by_method_and_outcome(
    api_client, user_factory, settings
):
    settings.ADMIN_TOTP_ENFORCED = False
    user = user_factory()
    password_login(api_client, user.email, "not-the-password")
    password_login(api_client, user.email)
    operator = user_factory(is_staff=True, is_superuser=True, role="admin")
    console = Client()
    console.force_login(operator)
    url = "/admin/security/loginattempt/"
    page = console.get(url)
    assert page.status_code == 200
    assert b"By method" in page.content and b"Admin Console" in page.content
    listed = console.get(url, {"method": "password", "success__exact": "0"})
    assert listed.status_code == 200
    shown = list(listed.context["cl"].result_list)
    assert [(a.method, a.success, a.user_id) for a in shown] == [("password", False, user.id)]
    assert [a.success for a in console.get(url, {"method": "totp"}).context["cl"].result_list] == []


def test_an_unknown_method_cannot_be_stored():
    with pytest.raises(IntegrityError), transaction.atomic():
        LoginAttempt.objects.create(method="sms", email_key="a@example.com", success=False)


# --- The migration ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rows_from_before_the_method_become_password_or_admin_console():
    executor = MigrationExecutor(connection)
    executor.migrate([("security", "0005_security_event_created_index")])
    try:
        with connection.cursor() as cursor:
            for reason in ("password", "unknown", "admin_password", "admin_otp"):
                cursor.execute(
                    "INSERT INTO security_login_attempt (email_key, user_agent, success, reason,"
                    " known_device, created_at) VALUES ('a@example.com', '', false, %s, false,"
                    " now())",
                    [reason],
                )
        executor = MigrationExecutor(connection)
        executor.migrate([("security", "0006_login_attempt_method")])
        assert dict(LoginAttempt.objects.values_list("reason", "method")) == {
            "password": "password",
            "unknown": "password",
            "admin_password": "admin_console",
            "admin_otp": "admin_console",
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
