"""The console reads as Mana's operators' console (issue 19, item 11): its own header and
title, a sign-in with one code field (no device picker; a backup code works too), no Groups,
and a dashboard of cheap figures on the index."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.mfa import totp_enroll_confirmed
from accounts.models import OutboxMessage, User
from mana_auth.clientip import RequestMeta
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from security.otp.models import BackupCode
from security.otp.services import backup_codes_replace
from tests.accounts.signin.mfa_helpers import STEP, code_at, frozen_clock
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
BRAND = "Mana operators&#x27; console"


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


@pytest.fixture
def operator(user_factory) -> User:
    return user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")


def enrol(user: User) -> str:
    return pyotp.parse_uri(totp_enroll_confirmed(user=user, meta=RequestMeta()).otpauth_uri).secret


def sign_in(client: Client, user: User, code: str):
    return client.post(
        LOGIN, {"username": user.email, "password": PASSWORD, "otp_token": code, "next": "/admin/"}
    )


# --- The sign-in ------------------------------------------------------------------------------


def test_the_sign_in_page_is_branded_and_asks_for_one_code_without_a_device_picker():
    page = Client().get(LOGIN).content.decode()

    assert f"<title>Log in | {BRAND}</title>" in page
    assert BRAND in page and "Django administration" not in page
    assert 'name="otp_token"' in page and "Authenticator code" in page
    assert "backup codes" in page  # the help text says a backup code goes here too
    assert 'name="otp_device"' not in page and "<select" not in page
    assert "Get OTP Challenge" not in page and "otp_challenge" not in page


def test_the_first_submit_with_the_code_alone_signs_in(operator):
    secret = enrol(operator)
    client = Client()

    response = sign_in(client, operator, code_at(secret))

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert b"select a device" not in client.get("/admin/").content.lower()
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused_with_the_one_answer(operator):
    secret = enrol(operator)
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    client = Client()

    response = sign_in(client, operator, wrong)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Please enter the correct email, password and authenticator code" in page
    assert "select a device" not in page.lower()
    assert client.get("/admin/").status_code == 302
    event = SecurityEvent.objects.get(type="LOGIN_FAILURE", user=operator)
    assert event.metadata["reason"] == "admin_otp"


def test_staff_without_an_authenticator_get_the_same_answer(operator):
    client = Client()
    response = sign_in(client, operator, "123456")  # no device at all
    assert response.status_code == 200
    assert b"Please enter the correct email, password and authenticator code" in response.content
    assert client.get("/admin/").status_code == 302


def test_a_backup_code_signs_in_once(operator, frozen):
    enrol(operator)
    codes = backup_codes_replace(user=operator)
    client = Client()

    response = sign_in(client, operator, codes[0].upper())

    assert response.status_code == 302 and client.get("/admin/").status_code == 200
    assert BackupCode.objects.filter(device__user=operator).count() == len(codes) - 1
    frozen.tick(STEP)
    again = Client()
    assert sign_in(again, operator, codes[0]).status_code == 200  # spent
    assert again.get("/admin/").status_code == 302


def test_a_six_digit_code_never_spends_a_backup_code(operator):
    secret = enrol(operator)
    codes = backup_codes_replace(user=operator)
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    sign_in(Client(), operator, wrong)
    assert BackupCode.objects.filter(device__user=operator).count() == len(codes)


# --- What the console shows -------------------------------------------------------------------


@pytest.fixture
def console(operator) -> Client:
    client = Client()
    assert sign_in(client, operator, code_at(enrol(operator))).status_code == 302
    return client


def test_groups_are_not_in_the_console(console):
    assert Group not in admin.site._registry
    assert console.get("/admin/auth/group/").status_code == 404
    index = console.get("/admin/").content.decode()
    assert "Groups" not in index and "/admin/auth/" not in index
    assert "View site" not in index


def test_the_console_has_no_unaudited_password_change(console):
    assert "Change password" not in console.get("/admin/").content.decode()
    assert console.get("/admin/password_change/").status_code == 404
    assert console.post("/admin/password_change/", {"new_password1": "x"}).status_code == 404
    assert console.get("/admin/password_change/done/").status_code == 404


def test_the_index_is_branded(console):
    page = console.get("/admin/").content.decode()
    assert f"<title>Dashboard | {BRAND}</title>" in page
    assert f'<a href="/admin/">{BRAND}</a>' in page
    assert "Django administration" not in page and "Django site admin" not in page


def test_the_dashboard_counts_what_operators_watch(console, operator, user_factory, settings):
    settings.MAX_DAILY_SIGNUPS = 50
    now = timezone.now()
    yesterday = user_factory(email="yesterday@example.com")
    User.objects.filter(pk=yesterday.pk).update(created_at=now - timedelta(days=1))
    for number in range(3):
        user_factory(email=f"new{number}@example.com")
    user_factory(email="bot@mana.test", kind="persona")  # personas never count toward the cap
    # Locks: two accounts now, one lock that ran out, one device-only lock.
    for scope, until in [
        ("acct:locked1@example.com", now + timedelta(minutes=10)),
        ("acct:locked2@example.com", now + timedelta(minutes=1)),
        ("acct:old@example.com", now - timedelta(minutes=1)),
        ("dev:locked3@example.com:abc", now + timedelta(minutes=10)),
    ]:
        LoginThrottle.objects.create(
            scope=scope, email_key=scope.split(":")[1], failures=5, locked_until=until
        )
    # Failed sign-ins: two within the hour, one older, and a success that does not count.
    for minutes, success in [(5, False), (59, False), (61, False), (1, True)]:
        LoginAttempt.objects.create(
            email_key="x@example.com",
            method="password",
            success=success,
            created_at=now - timedelta(minutes=minutes),
        )
    # The outbox: two pending (one already failed once), one delivered.
    OutboxMessage.objects.all().delete()
    for attempts, delivered in [(0, None), (2, None), (1, now)]:
        OutboxMessage.objects.create(
            target="credits",
            event="user.created",
            user_id=operator.pk,
            attempts=attempts,
            delivered_at=delivered,
        )
    for number in range(12):
        SecurityEvent.objects.create(
            type="PROFILE_UPDATED",
            user=operator,
            metadata={"n": number},
            created_at=now + timedelta(seconds=number + 1),
        )
    humans_today = User.objects.filter(kind="human", created_at__gte=now.replace(hour=0)).count()

    response = console.get("/admin/")

    dashboard = response.context["dashboard"]
    assert dashboard.signups_today == humans_today == 4  # three new ones and the operator
    assert dashboard.signup_cap == 50
    assert dashboard.locked_accounts == 2
    assert dashboard.failed_sign_ins_last_hour == 2
    assert (dashboard.outbox_pending, dashboard.outbox_retrying) == (2, 1)
    assert [event.metadata["n"] for event in dashboard.latest_events] == list(range(11, 1, -1))
    page = response.content.decode()
    assert "4 of 50 (the daily cap)" in page
    assert "2 pending, 1 failed at least once" in page
    assert "/admin/accounts/user/?locked=yes" in page
    assert "/admin/security/loginattempt/?success__exact=0" in page
    assert page.count("PROFILE_UPDATED") == 10


def test_the_dashboard_without_a_cap_says_so(console, settings):
    settings.MAX_DAILY_SIGNUPS = None
    response = console.get("/admin/")
    assert response.context["dashboard"].signup_cap is None
    assert "(no daily cap)" in response.content.decode()


def test_the_dashboard_is_a_few_cheap_queries(console, django_assert_max_num_queries):
    for number in range(30):
        SecurityEvent.objects.create(type="PROFILE_UPDATED", metadata={"n": number})
    with django_assert_max_num_queries(20):
        assert console.get("/admin/").status_code == 200
