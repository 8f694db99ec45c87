"""Known devices (the ``mana.device`` cookie) are bound to the account's credential epoch and
capped per address (attack2 F3).

A device cookie used to outlive a password reset or an address claim, and each one carried its
own per-address budget and lockout counter: whoever once knew the password could mint cookies
and, after the owner's reset, guess the new password 5 times per cookie, the account never
locking. Now a change, reset, claim or "this wasn't me" report makes every earlier cookie
unknown, and only the address's most recent ``KNOWN_DEVICES_PER_ADDRESS`` devices are known.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from security import lockout
from security.models import LoginThrottle
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
WRONG = "definitely-not-it-1"
NEW_PASSWORD = "fresh-start-password-5"


def login(client: APIClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


def lock_from_elsewhere(email: str) -> None:
    stranger = APIClient()
    assert [login(stranger, email, WRONG).status_code for _ in range(5)] == [401] * 5
    assert login(stranger, email, WRONG).status_code == 429


def device(settings: Any, email: str) -> APIClient:
    client = APIClient()
    assert login(client, email).status_code == 200
    assert client.cookies[settings.DEVICE_COOKIE_NAME].value
    client.credentials()  # only the device cookie matters below
    return client


def reset_password(email: str, mailoutbox: list[Any]) -> None:
    mailoutbox.clear()
    APIClient().post("/api/v1/auth/forgot-password", {"email": email}, format="json")
    url = re.search(r"https?://\S+", mailoutbox[-1].body).group(0)
    token = parse_qs(urlsplit(url).query)["token"][0]
    response = APIClient().post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content


def change_password(email: str) -> None:
    client = APIClient()
    tokens = login(client, email).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    response = client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content


def test_a_known_device_keeps_its_own_counter_while_the_password_stands(user_factory, settings):
    user = user_factory()
    laptop = device(settings, user.email)
    lock_from_elsewhere(user.email)
    assert login(laptop, user.email).status_code == 200


@pytest.mark.parametrize("how", ["reset", "change"])
def test_a_device_cookie_from_before_a_new_password_is_unknown_after(
    user_factory, settings, mailoutbox, how, shared_store
):
    user = user_factory()
    old = device(settings, user.email)
    old_cookie = old.cookies[settings.DEVICE_COOKIE_NAME].value
    if how == "reset":
        reset_password(user.email, mailoutbox)
    else:
        change_password(user.email)
    # The ex-holder's guesses with the old cookie count on the account, and lock it.
    guesses = [login(old, user.email, WRONG).status_code for _ in range(6)]
    assert guesses == [401] * 5 + [429]
    key = user.email.lower()
    assert LoginThrottle.objects.get(scope=f"acct:{key}").failures == 5
    assert not LoginThrottle.objects.filter(scope__startswith=f"dev:{key}:").exists()
    # Even the new password is refused from that browser now: it is no longer a known device.
    assert login(old, user.email, NEW_PASSWORD).status_code == 429
    assert old.cookies[settings.DEVICE_COOKIE_NAME].value == old_cookie  # nothing new was set


def test_a_device_that_signs_in_with_the_new_password_is_known_again(
    user_factory, settings, mailoutbox
):
    user = user_factory()
    laptop = device(settings, user.email)
    reset_password(user.email, mailoutbox)
    assert login(laptop, user.email, NEW_PASSWORD).status_code == 200
    lock_from_elsewhere(user.email)
    assert login(laptop, user.email, NEW_PASSWORD).status_code == 200


def test_only_the_most_recent_devices_of_an_address_are_known(user_factory, settings, shared_store):
    user = user_factory()
    cap = lockout.KNOWN_DEVICES_PER_ADDRESS
    browsers = [device(settings, user.email) for _ in range(cap + 2)]
    lock_from_elsewhere(user.email)
    # The two oldest share the unknown budget and counter: locked with the account.
    assert [login(b, user.email).status_code for b in browsers[:2]] == [429, 429]
    assert [login(b, user.email).status_code for b in browsers[2:]] == [200] * cap


def test_minted_cookies_buy_no_more_guesses_than_the_cap(user_factory, settings, mailoutbox):
    """The attack: sign in many times while the password is known, keep every cookie, guess
    after the owner's reset. Before the reset they were worth 5 guesses each; after it, none
    is known, and at most the cap's worth were ever known."""
    user = user_factory()
    cookies = [device(settings, user.email) for _ in range(6)]
    reset_password(user.email, mailoutbox)
    outcomes = [login(c, user.email, f"guess-{i}-{j}").status_code for i, c in enumerate(cookies)
                for j in range(2)]  # fmt: skip
    assert outcomes.count(401) == 5 and outcomes.count(429) == 7
    assert login(APIClient(), user.email, NEW_PASSWORD).status_code == 429


def test_a_genuine_cookie_with_another_epoch_or_address_is_unknown(user_factory, settings):
    user = user_factory()
    key = user.email.lower()
    laptop = device(settings, user.email)
    lock_from_elsewhere(user.email)
    device_id = lockout._cookie_device(
        laptop.cookies[settings.DEVICE_COOKIE_NAME].value,
        key,
        lockout.credential_epoch(type(user).objects.get(pk=user.pk).password),
    )
    assert device_id is not None
    for forged in (
        lockout.device_cookie_make(key, "another-epoch", device_id),
        lockout.device_cookie_make("someone@else.test", "x", device_id),
    ):
        laptop.cookies[settings.DEVICE_COOKIE_NAME] = forged
        assert login(laptop, user.email).status_code == 429


def guesses_count_on_the_account(client: APIClient, email: str) -> None:
    assert [login(client, email, WRONG).status_code for _ in range(2)] == [401, 401]
    key = email.lower()
    assert LoginThrottle.objects.get(scope=f"acct:{key}").failures == 2
    assert not LoginThrottle.objects.filter(scope__startswith=f"dev:{key}:").exists()


def test_a_device_cookie_from_before_a_compromise_report_is_unknown_after(user_factory, settings):
    from accounts.notices import security_report_link

    user = user_factory()
    old = device(settings, user.email)
    token = parse_qs(urlsplit(security_report_link(user=user)).query)["token"][0]
    response = APIClient().post("/api/v1/auth/report-compromise", {"token": token}, format="json")
    assert response.status_code == 200, response.content
    guesses_count_on_the_account(old, user.email)


def test_a_device_cookie_from_before_an_address_claim_is_unknown_after(
    user_factory, settings, mailoutbox
):
    """Whoever signed up with someone else's address (unverified accounts may sign in here)
    keeps no known device once the mailbox owner claims it by a reset."""
    settings.REQUIRE_EMAIL_VERIFICATION = False
    squatter = user_factory(verified=False)
    old = device(settings, squatter.email)
    reset_password(squatter.email, mailoutbox)
    assert type(squatter).objects.get(pk=squatter.pk).email_verified_at is not None  # claimed
    guesses_count_on_the_account(old, squatter.email)
