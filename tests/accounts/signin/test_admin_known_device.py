"""The console honours the device cookie, like the API's and the pages' password sign-in.

It counted every sign-in on the account's counter (``acct:``): whoever knew an operator's
address kept every operator out of ``/admin/`` with five wrong passwords every 30 minutes, at
the API or at the console (attack2 F6). Now a browser with a genuine device cookie of that
account has its own counter there too, and a console sign-in makes the browser a known device.
"""

from __future__ import annotations

import pyotp
import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.emails import email_key
from accounts.mfa import totp_enroll_confirmed
from accounts.models import User
from mana_auth.clientip import RequestMeta
from security import lockout
from security.models import AttemptMethod, LoginAttempt, LoginThrottle
from tests.accounts.signin.mfa_helpers import STEP, code_at, frozen_clock
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
LOCKED = b"Too many failed sign-ins"
INVALID = b"Please enter the correct email"
EMAIL = "ops@example.com"
ACCOUNT = f"acct:{EMAIL}"


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


@pytest.fixture
def operator(user_factory) -> tuple[User, str]:
    user = user_factory(email=EMAIL, is_staff=True, is_superuser=True, role="admin")
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    return user, pyotp.parse_uri(enrolment.otpauth_uri).secret


def console_post(client: Client, password: str, code: str):
    return client.post(
        LOGIN, {"username": EMAIL, "password": password, "otp_token": code, "next": "/admin/"}
    )


def device_scopes() -> list[str]:
    return list(
        LoginThrottle.objects.filter(scope__startswith=f"dev:{EMAIL}:").values_list(
            "scope", flat=True
        )
    )


def known_browser(secret: str, frozen) -> Client:
    """The operator's browser after a console sign-in: it carries the device cookie."""
    browser = Client(REMOTE_ADDR="10.9.0.1")
    response = console_post(browser, PASSWORD, code_at(secret))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    cookie = response.cookies[django_settings.DEVICE_COOKIE_NAME]
    assert cookie["httponly"] and cookie["path"] == "/"
    account = User.objects.get(email=EMAIL)
    epoch = lockout.credential_epoch(account.password)
    assert lockout.device_id_from_cookie(cookie.value, email_key(EMAIL), epoch) is not None
    # Signed out later (``logout`` empties the test client's jar): the cookie stays.
    browser = Client(REMOTE_ADDR="10.9.0.1")
    browser.cookies[django_settings.DEVICE_COOKIE_NAME] = cookie.value
    frozen.tick(STEP)  # the next code is not a replay of that one
    return browser


def test_a_console_sign_in_sets_the_device_cookie_and_reuses_a_known_one(operator, frozen):
    _, secret = operator
    browser = known_browser(secret, frozen)
    first = browser.cookies[django_settings.DEVICE_COOKIE_NAME].value
    again = console_post(browser, PASSWORD, code_at(secret))
    assert again.status_code == 302
    renewed = again.cookies[django_settings.DEVICE_COOKIE_NAME].value
    account = User.objects.get(email=EMAIL)
    epoch = lockout.credential_epoch(account.password)
    # Re-signed (a fresh timestamp), the same device.
    device = lockout.device_id_from_cookie(first, email_key(EMAIL), epoch)
    assert device is not None
    assert lockout.device_id_from_cookie(renewed, email_key(EMAIL), epoch) == device
    success = LoginAttempt.objects.filter(method=AttemptMethod.ADMIN_CONSOLE, success=True)
    assert list(success.values_list("known_device", flat=True).order_by("created_at")) == [
        False,
        True,
    ]


def test_a_failed_console_sign_in_sets_no_device_cookie(operator):
    response = console_post(Client(REMOTE_ADDR="10.9.0.2"), "wrong-password-1", "000000")
    assert response.status_code == 200 and INVALID in response.content
    assert django_settings.DEVICE_COOKIE_NAME not in response.cookies


def test_failures_from_elsewhere_do_not_keep_the_operator_out_on_a_known_device(operator, frozen):
    _, secret = operator
    browser = known_browser(secret, frozen)
    # Someone who knows the address spends the account's failures at the API, from anywhere.
    for index in range(django_settings.LOCKOUT_MAX_FAILURES):
        guess = APIClient(REMOTE_ADDR=f"10.8.0.{index + 1}").post(
            "/api/v1/auth/login", {"email": EMAIL, "password": f"guess-{index}"}, format="json"
        )
        assert guess.json()["code"] == "INVALID_CREDENTIALS"
    assert LoginThrottle.objects.get(scope=ACCOUNT).locked_until is not None
    # A browser without the cookie is refused, however right its password and code.
    elsewhere = console_post(Client(REMOTE_ADDR="10.9.0.3"), PASSWORD, code_at(secret))
    assert elsewhere.status_code == 200 and LOCKED in elsewhere.content
    # The operator's own browser signs in: its own counter.
    response = console_post(browser, PASSWORD, code_at(secret))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    assert LoginThrottle.objects.get(scope=ACCOUNT).locked_until is not None  # still locked


def test_failures_from_the_known_device_lock_the_device(operator, frozen, mailoutbox):
    user, secret = operator
    browser = known_browser(secret, frozen)
    mailoutbox.clear()
    for index in range(django_settings.LOCKOUT_MAX_FAILURES):
        response = console_post(browser, f"wrong-{index}", code_at(secret))
        assert response.status_code == 200 and INVALID in response.content
    [scope] = device_scopes()
    throttle = LoginThrottle.objects.get(scope=scope)
    assert throttle.failures == django_settings.LOCKOUT_MAX_FAILURES
    assert throttle.locked_until is not None
    assert not LoginThrottle.objects.filter(scope=ACCOUNT).exists()
    failures = LoginAttempt.objects.filter(method=AttemptMethod.ADMIN_CONSOLE, success=False)
    assert set(failures.values_list("known_device", flat=True)) == {True}
    assert [mail.to for mail in mailoutbox] == [[user.email]]  # the lock notice
    # The device is locked, however right the password and the code now.
    locked = console_post(browser, PASSWORD, code_at(secret))
    assert locked.status_code == 200 and LOCKED in locked.content
    # Another browser (the account's own counter) is not.
    other = console_post(Client(REMOTE_ADDR="10.9.0.4"), PASSWORD, code_at(secret))
    assert other.status_code == 302


def test_a_device_cookie_of_another_account_is_the_accounts_counter(operator, user_factory, frozen):
    _, secret = operator
    other = user_factory(email="someone@example.com")
    browser = Client(REMOTE_ADDR="10.9.0.5")
    browser.cookies[django_settings.DEVICE_COOKIE_NAME] = lockout.device_cookie_make(
        other.email_key, lockout.credential_epoch(other.password)
    )
    response = console_post(browser, "wrong-password-2", code_at(secret))
    assert response.status_code == 200 and INVALID in response.content
    assert LoginThrottle.objects.get(scope=ACCOUNT).failures == 1
    assert device_scopes() == []
