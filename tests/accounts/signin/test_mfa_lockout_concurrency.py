"""``login/mfa`` counts its code check before running it, like the password sign-in.

It used to read the lock, check the code and only then count the failure: whoever holds the
password opens many challenges and sends a wrong code on each at once; every post passed a
lock check none of them had tripped yet, so the attacker got as many code checks as he could
send in parallel (attack2 F2). Now the check is reserved first on the first factor's counter
(``lockout.check_reserved``): exactly ``LOCKOUT_MAX_FAILURES`` codes are checked and every
other post is refused with ACCOUNT_LOCKED, unchecked.
"""

from __future__ import annotations

import threading
from unittest import mock

import pyotp
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.mfa import totp_enroll_confirmed
from accounts.models import OneTimeToken, TokenPurpose
from accounts.signin.second_factor import mfa_challenge_issue
from mana_auth.clientip import RequestMeta
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from security.otp.models import SealedTotpDevice
from tests.accounts.signin.mfa_helpers import LOGIN_MFA, STEP, code_at

CHALLENGES = 12


def _wrong_code(secret: str) -> str:
    now = timezone.now().timestamp()
    taken = {code_at(secret, now + offset * STEP) for offset in range(-3, 4)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in taken)


def _parallel_wrong_codes(tokens: list[str], code: str) -> tuple[list[str], int]:
    """One wrong code per challenge, all at once, each from its own address on its own
    connection; the answers' codes and how many codes were checked."""
    barrier = threading.Barrier(len(tokens))
    answers: list[str] = []
    checked = 0
    guard = threading.Lock()
    real_verify = SealedTotpDevice.verify_token

    def counting_verify(self, token, **kwargs):
        nonlocal checked
        with guard:
            checked += 1
        return real_verify(self, token, **kwargs)

    def worker(index: int) -> None:
        client = APIClient(REMOTE_ADDR=f"10.0.2.{index + 1}")
        barrier.wait()
        try:
            response = client.post(
                LOGIN_MFA,
                {"mfaToken": tokens[index], "code": code, "method": "totp"},
                format="json",
            )
            answers.append(response.json()["code"])
        finally:
            connection.close()

    with mock.patch.object(SealedTotpDevice, "verify_token", counting_verify):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(tokens))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return answers, checked


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_codes_get_exactly_the_threshold_of_checks(
    user_factory, settings, mailoutbox
):
    # django-otp's per-device back-off would hide the race (a device row lock and a 1 s wait
    # after each wrong code); a deployment may set it to 0, and the lockout must hold alone.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = user_factory(email="holder@example.com")
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    secret = pyotp.parse_uri(enrolment.otpauth_uri).secret
    scope = "acct:holder@example.com"
    mailoutbox.clear()  # the enrolment's notice
    # The password holder opened a challenge per password sign-in.
    tokens = [
        mfa_challenge_issue(user=user, first_factor="password", lockout_scope=scope)
        for _ in range(CHALLENGES)
    ]
    answers, checked = _parallel_wrong_codes(tokens, _wrong_code(secret))
    limit = django_settings.LOCKOUT_MAX_FAILURES
    assert checked == limit
    assert sorted(answers) == sorted(
        ["MFA_INVALID_CODE"] * limit + ["ACCOUNT_LOCKED"] * (CHALLENGES - limit)
    )
    throttle = LoginThrottle.objects.get(scope=scope)
    assert throttle.failures == limit and throttle.locked_until is not None
    assert LoginAttempt.objects.filter(success=False, reason="mfa").count() == limit
    assert SecurityEvent.objects.filter(user=user, type="MFA_CHALLENGE_FAILED").count() == limit
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_LOCKED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[user.email]]
    # The refused challenges were not spent: each still has its whole budget of codes.
    untouched = OneTimeToken.objects.filter(
        purpose=TokenPurpose.MFA, used_at__isnull=True, payload__attempts=0
    )
    assert untouched.count() == CHALLENGES - limit


@pytest.mark.django_db
def test_the_right_code_gives_the_reservation_back_and_clears_the_count(user_factory):
    user = user_factory(email="owner@example.com")
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    secret = pyotp.parse_uri(enrolment.otpauth_uri).secret
    scope = "acct:owner@example.com"
    token = mfa_challenge_issue(user=user, first_factor="password", lockout_scope=scope)
    SealedTotpDevice.objects.filter(user=user).update(last_t=-1)
    response = APIClient().post(
        LOGIN_MFA,
        {"mfaToken": token, "code": pyotp.TOTP(secret).now(), "method": "totp"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert not LoginThrottle.objects.filter(scope=scope).exists()


@pytest.mark.django_db
def test_a_failure_of_ours_gives_the_reservation_back(user_factory):
    user = user_factory(email="owner2@example.com")
    totp_enroll_confirmed(user=user, meta=RequestMeta())
    scope = "acct:owner2@example.com"
    token = mfa_challenge_issue(user=user, first_factor="password", lockout_scope=scope)
    with mock.patch(
        "accounts.signin.second_factor._device_for", side_effect=RuntimeError("db down")
    ):
        client = APIClient(raise_request_exception=False)
        response = client.post(
            LOGIN_MFA, {"mfaToken": token, "code": "123456", "method": "totp"}, format="json"
        )
    assert response.status_code >= 500
    assert not LoginThrottle.objects.filter(scope=scope).exists()
    assert not LoginAttempt.objects.filter(success=False).exists()
