"""Second-factor guessing counts toward the lock (issue 15, point 4).

A correct password used to reset the failure counter before the second factor was checked, and
``login/mfa`` never looked at the lock: an attacker holding the password could guess TOTP codes
forever, five per fresh password sign-in. Now the counter resets only after a completed
sign-in, wrong codes count toward the scope the first factor was checked against, and
``login/mfa`` refuses while that scope is locked.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Session
from security.models import LoginThrottle, SecurityEvent
from tests.accounts.signin.mfa_helpers import (
    STEP,
    code_at,
    enable_totp,
    finish,
    frozen_clock,
    password_login,
)

pytestmark = pytest.mark.django_db
MAGIC_LINK = "/api/v1/auth/magic-link"
# django-otp's per-device back-off doubles after each wrong code and is capped at 60 seconds
# (security/otp/models.py); waiting this long between guesses always clears it.
PAST_BACKOFF = 61


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


def magic_link_verify(client: APIClient, mailoutbox: list[Any]) -> Any:
    """Open the sign-in link of the last mail."""
    link = re.search(r"https?://\S+", mailoutbox[-1].body).group(0)
    token = parse_qs(urlsplit(link).query)["token"][0]
    return client.post(f"{MAGIC_LINK}/verify", {"token": token}, format="json")


def wrong_code(secret: str) -> str:
    now = timezone.now().timestamp()
    taken = {code_at(secret, now + offset * STEP) for offset in (-2, -1, 0, 1, 2)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in taken)


def test_guessing_codes_with_fresh_password_sign_ins_locks_the_account(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    email = client.user.email
    sessions_before = Session.objects.filter(user=client.user).count()
    outcomes: list[str] = []
    held = ""  # a live challenge the attacker keeps for after the lock
    refused = None
    for attempt in range(12):
        login = password_login(APIClient(), email)
        if login.status_code == 429:
            outcomes.append(login.json()["code"])
            if refused is None:
                # The right code on a challenge issued before the lock: refused while it runs.
                refused = finish(APIClient(), held, code_at(secret))
        else:
            assert login.json()["code"] == "MFA_REQUIRED"
            token = login.json()["details"]["mfaToken"]
            if attempt == 3:
                held = password_login(APIClient(), email).json()["details"]["mfaToken"]
            outcomes.append(finish(APIClient(), token, wrong_code(secret)).json()["code"])
        frozen.tick(PAST_BACKOFF)
    assert outcomes == ["MFA_INVALID_CODE"] * 5 + ["ACCOUNT_LOCKED"] * 7
    assert SecurityEvent.objects.filter(user=client.user, type="ACCOUNT_LOCKED").count() == 1
    assert refused is not None
    assert refused.status_code == 429
    assert refused.json()["code"] == "ACCOUNT_LOCKED"
    assert refused.json()["details"]["remainingSeconds"] > 0
    assert Session.objects.filter(user=client.user).count() == sessions_before
    assert password_login(APIClient(), email).json()["code"] == "ACCOUNT_LOCKED"


def test_a_correct_password_does_not_reset_the_count_before_the_second_factor(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    scope = f"acct:{client.user.email.lower()}"
    for _ in range(2):
        token = password_login(APIClient(), client.user.email).json()["details"]["mfaToken"]
        assert finish(APIClient(), token, wrong_code(secret)).json()["code"] == "MFA_INVALID_CODE"
        frozen.tick(PAST_BACKOFF)
    token = password_login(APIClient(), client.user.email).json()["details"]["mfaToken"]
    assert LoginThrottle.objects.get(scope=scope).failures == 2  # the password alone reset nothing
    assert finish(APIClient(), token, code_at(secret)).status_code == 200
    assert not LoginThrottle.objects.filter(scope=scope).exists()  # a completed sign-in did


def test_the_owners_known_device_finishes_while_the_account_scope_is_locked(auth_client, frozen):
    client = auth_client()  # signed in before: this client holds the device cookie
    secret, _ = enable_totp(client, frozen)
    for _ in range(5):
        token = password_login(APIClient(), client.user.email).json()["details"]["mfaToken"]
        finish(APIClient(), token, wrong_code(secret))
        frozen.tick(PAST_BACKOFF)
    assert password_login(APIClient(), client.user.email).json()["code"] == "ACCOUNT_LOCKED"
    owner = password_login(client, client.user.email)
    assert owner.json()["code"] == "MFA_REQUIRED"
    done = finish(client, owner.json()["details"]["mfaToken"], code_at(secret))
    assert done.status_code == 200, done.content


def test_wrong_codes_on_a_known_device_lock_that_device(auth_client, frozen):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    for _ in range(5):
        token = password_login(client, client.user.email).json()["details"]["mfaToken"]
        finish(client, token, wrong_code(secret))
        frozen.tick(PAST_BACKOFF)
    locked = password_login(client, client.user.email)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    # The account scope is untouched: the failures were the device's.
    assert password_login(APIClient(), client.user.email).json()["code"] == "MFA_REQUIRED"


def test_a_password_lock_does_not_stop_a_magic_link_sign_in_with_its_second_factor(
    auth_client, frozen, mailoutbox
):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    for _ in range(5):
        password_login(APIClient(), client.user.email, "wrong-password-1")
    assert password_login(APIClient(), client.user.email).json()["code"] == "ACCOUNT_LOCKED"
    mailoutbox.clear()
    anonymous = APIClient()
    anonymous.post(MAGIC_LINK, {"email": client.user.email}, format="json")
    link = magic_link_verify(anonymous, mailoutbox)
    assert link.json()["code"] == "MFA_REQUIRED"
    done = finish(anonymous, link.json()["details"]["mfaToken"], code_at(secret))
    assert done.status_code == 200, done.content


def test_guessing_codes_behind_magic_links_locks_the_magic_link_second_step(
    auth_client, frozen, mailoutbox
):
    client = auth_client()
    secret, _ = enable_totp(client, frozen)
    email = client.user.email
    token = ""
    for guesses in (3, 2):  # two links, five wrong codes in all
        mailoutbox.clear()
        anonymous = APIClient()
        anonymous.post(MAGIC_LINK, {"email": email}, format="json")
        token = magic_link_verify(anonymous, mailoutbox).json()["details"]["mfaToken"]
        for _ in range(guesses):
            finish(anonymous, token, wrong_code(secret))
            frozen.tick(PAST_BACKOFF)
    throttle = LoginThrottle.objects.get(scope=f"link:{email.lower()}")
    assert throttle.failures == 5 and throttle.locked_until is not None
    refused = finish(APIClient(), token, code_at(secret))
    assert refused.status_code == 429 and refused.json()["code"] == "ACCOUNT_LOCKED"
    # Password sign-in is a scope of its own and stays open to the owner.
    assert password_login(APIClient(), email).json()["code"] == "MFA_REQUIRED"
