"""The admin sign-in form is no password oracle and obeys the lockout (issue 15, point 5).

django-otp's admin form said "Please enter your OTP token." (and listed the account's devices,
and echoed the password back) when the password was right, and "Please enter a correct email
and password" when it was wrong — outside the lockout and the audit trail. Now every failure
gets one answer, counts toward the account's lock and writes ``LOGIN_FAILURE``.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.mfa import totp_enroll_confirmed
from accounts.models import User
from mana_auth.clientip import RequestMeta
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from security.otp.models import SealedTotpDevice
from tests.accounts.signin.mfa_helpers import STEP, code_at, frozen_clock
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


@pytest.fixture
def staff(user_factory) -> User:
    return user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")


def enrol(user: User) -> tuple[str, SealedTotpDevice]:
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    return pyotp.parse_uri(enrolment.otpauth_uri).secret, SealedTotpDevice.objects.get(user=user)


def post(client: Client, email: str, password: str, **otp: str):
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/", **otp})


def page(response, email: str = "") -> bytes:
    """The rendered form, without the per-request CSRF token (and the typed email)."""
    assert response.status_code == 200
    content = _CSRF.sub(b"", response.content)
    return content.replace(email.encode(), b"<email>") if email else content


def wrong(code: str) -> str:
    return str((int(code) + 1) % 1_000_000).zfill(6)


def test_a_right_and_a_wrong_password_get_the_same_page_without_a_code(staff):
    enrol(staff)
    right = page(post(Client(), staff.email, PASSWORD), staff.email)
    wrong_password = page(post(Client(), staff.email, "not-the-password"), staff.email)
    unknown = page(post(Client(), "nobody@example.com", "x-x-x-x-1"), "nobody@example.com")
    assert right == wrong_password == unknown
    assert b"OTP Device" not in right  # the account's devices are never listed
    assert PASSWORD.encode() not in right  # nor the password echoed back


def test_a_right_and_a_wrong_password_get_the_same_page_with_a_wrong_code(staff):
    secret, device = enrol(staff)
    code = wrong(code_at(secret))
    right = post(Client(), staff.email, PASSWORD, otp_device=device.persistent_id, otp_token=code)
    other = post(
        Client(), staff.email, "nope-nope-1", otp_device=device.persistent_id, otp_token=code
    )
    assert page(right) == page(other)


def test_a_staff_account_without_an_authenticator_gets_the_same_page(staff, user_factory):
    plain = user_factory(email="plain@example.com")  # right password, but no staff account
    no_device = page(post(Client(), staff.email, PASSWORD), staff.email)
    not_staff = page(post(Client(), plain.email, PASSWORD), plain.email)
    wrong_password = page(post(Client(), staff.email, "not-the-password"), staff.email)
    assert no_device == not_staff == wrong_password


def test_failed_admin_sign_ins_count_toward_the_lock_and_are_audited(staff, frozen):
    secret, device = enrol(staff)
    for _ in range(3):
        post(Client(), staff.email, "not-the-password")
    post(Client(), staff.email, PASSWORD)  # no code
    post(Client(), staff.email, PASSWORD, otp_device=device.persistent_id, otp_token="000000")
    failures = SecurityEvent.objects.filter(user=staff, type="LOGIN_FAILURE")
    assert failures.count() == 5
    assert sorted(event.metadata["reason"] for event in failures) == [
        "admin_otp",
        "admin_otp",
        "admin_password",
        "admin_password",
        "admin_password",
    ]
    assert LoginAttempt.objects.filter(user=staff, success=False).count() == 5
    assert SecurityEvent.objects.filter(user=staff, type="ACCOUNT_LOCKED").count() == 1
    # Locked: even the right password and the right code are refused, here and on the API.
    frozen.tick(STEP)
    client = Client()
    locked = post(client, staff.email, PASSWORD, otp_token=code_at(secret))
    assert locked.status_code == 200
    assert b"locked" in locked.content
    assert client.get("/admin/").status_code == 302
    api = APIClient().post(
        "/api/v1/auth/login", {"email": staff.email, "password": PASSWORD}, format="json"
    )
    assert api.status_code == 429 and api.json()["code"] == "ACCOUNT_LOCKED"


def test_the_locked_answer_is_the_same_for_unknown_addresses(staff):
    for number, email in enumerate((staff.email, "ghost@example.com")):
        for _ in range(5):
            post(Client(REMOTE_ADDR=f"192.0.2.{number}"), email, "not-the-password")
    known = page(post(Client(), staff.email, PASSWORD), staff.email)
    ghost = page(post(Client(), "ghost@example.com", PASSWORD), "ghost@example.com")
    assert b"locked" in known
    assert known == ghost


def test_a_completed_admin_sign_in_resets_the_count(staff, frozen):
    secret, device = enrol(staff)
    for _ in range(4):
        post(Client(), staff.email, "not-the-password")
    client = Client()
    done = post(
        client, staff.email, PASSWORD, otp_device=device.persistent_id, otp_token=code_at(secret)
    )
    assert done.status_code == 302 and client.get("/admin/").status_code == 200
    assert not LoginThrottle.objects.filter(scope=f"acct:{staff.email}").exists()


def test_the_code_alone_picks_the_accounts_authenticator(staff):
    secret, _ = enrol(staff)
    client = Client()
    done = post(client, staff.email, PASSWORD, otp_token=code_at(secret))
    assert done.status_code == 302 and client.get("/admin/").status_code == 200


def test_without_enforcement_failures_still_count(staff, settings):
    settings.ADMIN_TOTP_ENFORCED = False
    for _ in range(5):
        assert post(Client(), staff.email, "not-the-password").status_code == 200
    client = Client()
    assert post(client, staff.email, PASSWORD).status_code == 200  # locked
    assert client.get("/admin/").status_code == 302
    assert SecurityEvent.objects.filter(user=staff, type="LOGIN_FAILURE").count() == 5


# --- Attack review finding 7: the console's password failures lock like the API's --------------


def test_wrong_passwords_at_the_console_lock_the_account_and_are_recorded(staff, frozen):
    secret, _ = enrol(staff)
    for _ in range(5):
        assert post(Client(), staff.email, "not-the-password").status_code == 200
    attempts = LoginAttempt.objects.filter(user=staff)
    assert list(attempts.values_list("method", "success", "reason").distinct()) == [
        ("admin_console", False, "admin_password")
    ]
    assert attempts.count() == 5
    locked = SecurityEvent.objects.get(user=staff, type="ACCOUNT_LOCKED")
    assert locked.metadata == {"scope": "account"}
    assert LoginThrottle.objects.get(scope=f"acct:{staff.email}").locked_until is not None
    # The lock holds for the right password and code, and for the API's sign-in.
    frozen.tick(STEP)
    refused = post(Client(), staff.email, PASSWORD, otp_token=code_at(secret))
    assert b"locked" in refused.content
    assert LoginAttempt.objects.filter(user=staff, success=True).count() == 0
    api = APIClient().post(
        "/api/v1/auth/login", {"email": staff.email, "password": PASSWORD}, format="json"
    )
    assert api.status_code == 429 and api.json()["code"] == "ACCOUNT_LOCKED"


def test_the_api_failure_budget_of_an_address_holds_at_the_console(staff):
    """20 failed sign-ins a minute per address, the API's and the console's together; spent,
    the console refuses plainly (it answered a server error: the recorder's refusal escaped
    the form)."""
    api = APIClient()
    for number in range(20):
        failed = api.post(
            "/api/v1/auth/login",
            {"email": f"guess{number}@example.com", "password": "not-the-password"},
            format="json",
        )
        assert failed.status_code == 401
    refused = post(Client(), staff.email, "not-the-password")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert not LoginAttempt.objects.filter(user=staff).exists()  # refused before any check
    assert post(Client(REMOTE_ADDR="192.0.2.7"), staff.email, "not-the-password").status_code == 200
    assert LoginAttempt.objects.filter(user=staff, method="admin_console").count() == 1
