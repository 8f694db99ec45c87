"""The magic-link page: the GET spends nothing (a mail scanner leaves the link working); the
button signs the browser in, asks for the second factor when there is one, then goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, Session
from tests.accounts.signin.mfa_helpers import code_at, enable_totp, frozen_clock
from tests.pages.conftest import Browser, hidden, link_in, local, query_of, text

pytestmark = pytest.mark.django_db

TRUSTED = "http://localhost:5173/app"


def magic_link(email: str, mailoutbox, **extra: str) -> str:
    mailoutbox.clear()
    APIClient().post("/api/v1/auth/magic-link", {"email": email, **extra}, format="json")
    return link_in(mailoutbox[-1], "/magic-link")


def test_the_get_spends_nothing_the_button_signs_in(browser, user_factory, mailoutbox):
    user = user_factory()
    link = local(magic_link(user.email, mailoutbox))
    for _ in range(2):  # a mail scanner, then the owner
        page = browser.show(link)
        assert page.status_code == 200 and "Sign in to Mana" in text(page)
    assert OneTimeToken.objects.get(purpose="magic_link").used_at is None
    assert not browser.signed_in()
    done = browser.submit("/magic-link", {"token": hidden(page, "token")})
    assert done.status_code == 302 and done["Location"] == "/"
    assert browser.signed_in()
    assert Session.objects.filter(user=user, auth_method="magic_link").count() == 1
    again = browser.show(link)
    assert again.status_code == 400 and "It was used already" in text(again)


def test_the_trusted_callback_of_the_request_follows_the_sign_in(browser, user_factory, mailoutbox):
    user = user_factory()
    link = magic_link(user.email, mailoutbox, callbackURL=TRUSTED)
    assert query_of(link)["callbackURL"] == [TRUSTED]
    page = browser.show(local(link))
    done = browser.submit(
        "/magic-link", {"token": hidden(page, "token"), "callbackURL": hidden(page, "callbackURL")}
    )
    assert done.status_code == 302 and done["Location"] == TRUSTED


def test_a_crafted_callback_is_not_followed(browser, user_factory, mailoutbox):
    user = user_factory()
    page = browser.show(local(magic_link(user.email, mailoutbox)))
    done = browser.submit(
        "/magic-link", {"token": hidden(page, "token"), "callbackURL": "https://evil.example/"}
    )
    assert done.status_code == 302 and done["Location"] == "/"


def test_with_a_second_factor_the_page_asks_for_it(browser, user_factory, mailoutbox):
    user = user_factory()
    from tests.conftest import login_tokens

    api = APIClient()
    with frozen_clock() as frozen:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(api, user)['accessToken']}")
        secret, _ = enable_totp(api, frozen)
        page = browser.show(local(magic_link(user.email, mailoutbox, callbackURL=TRUSTED)))
        step = browser.submit(
            "/magic-link", {"token": hidden(page, "token"), "callbackURL": TRUSTED}
        )
        assert step.status_code == 200 and "One more step" in text(step)
        assert not browser.signed_in()
        assert hidden(step, "callbackURL") == TRUSTED
        done = browser.submit(
            "/login/mfa",
            {
                "mfa_token": hidden(step, "mfa_token"),
                "method": "totp",
                "code": code_at(secret),
                "callbackURL": TRUSTED,
            },
        )
    assert done.status_code == 302 and done["Location"] == TRUSTED
    assert browser.signed_in()
    # A magic link makes no "known device": that is what a password proves.
    assert settings.DEVICE_COOKIE_NAME not in browser.cookies


def test_an_expired_link_and_a_made_up_one(browser, user_factory, mailoutbox):
    user = user_factory()
    link = local(magic_link(user.email, mailoutbox))
    OneTimeToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = browser.show(link)
    assert expired.status_code == 400 and "It has expired." in text(expired)
    browser.show("/login")
    made_up = browser.submit("/magic-link", {"token": "made-up"})
    assert made_up.status_code == 400 and "It is not valid" in text(made_up)
    assert not browser.signed_in()


def test_the_page_speaks_the_link_owners_language(user_factory, mailoutbox):
    user = user_factory(locale="de")
    page = Browser().show(local(magic_link(user.email, mailoutbox)))
    assert "Bei Mana anmelden" in text(page)


def test_the_magic_link_rate_limit_is_a_message(browser, user_factory, mailoutbox, settings):
    user = user_factory()
    page = browser.show(local(magic_link(user.email, mailoutbox)))
    settings.RATE_LIMIT_OVERRIDES = {"login-ip": 0}
    limited = browser.submit("/magic-link", {"token": hidden(page, "token")})
    assert limited.status_code == 429 and "Too many requests." in text(limited)
    assert OneTimeToken.objects.get(purpose="magic_link").used_at is None
