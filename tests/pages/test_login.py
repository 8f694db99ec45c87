"""The hosted sign-in page ``/login``: the API's services behind a form, the SSO cookie, the
second step, "email me a link", and only trusted redirects."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Session
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from tests.accounts.signin.mfa_helpers import code_at, enable_totp, frozen_clock
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, hidden, last_mail, link_in, query_of, text

pytestmark = pytest.mark.django_db

TRUSTED = "https://app.mana.how/after?x=1"


def sign_in(browser: Browser, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return browser.submit("/login", {"email": email, "password": password, **extra})


def test_the_page_offers_password_link_and_passkey_autofill(browser):
    page = browser.show("/login")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'autocomplete="username webauthn"' in body  # conditional UI needs this token
    assert 'autocomplete="current-password"' in body
    assert 'name="action" value="link"' in body
    assert 'src="/static/pages/passkey-login.js"' in body
    assert 'data-options-url="/api/v1/auth/passkeys/authenticate/options"' in body
    assert '<label for="id_email">' in body and '<label for="id_password">' in body


def test_a_correct_password_sets_the_sso_and_device_cookies_and_goes_home(browser, user_factory):
    user = user_factory()
    response = sign_in(browser, user.email)
    assert response.status_code == 302 and response["Location"] == "/"
    sso = browser.cookies[settings.SSO_COOKIE_NAME]
    assert sso["httponly"] and sso["samesite"] == "Lax" and sso["path"] == "/"
    device = browser.cookies[settings.DEVICE_COOKIE_NAME]
    assert device["httponly"] and device["path"] == "/"  # the page sees it on the next sign-in
    assert Session.objects.filter(user=user, auth_method="password").count() == 1
    home = browser.show("/")
    assert home.status_code == 200 and user.email in text(home)


@pytest.mark.parametrize(
    ("extra", "location"),
    [
        ({"callbackURL": TRUSTED}, TRUSTED),
        ({"next": "/invitations/accept?token=abc"}, "/invitations/accept?token=abc"),
        ({"callbackURL": "https://evil.example/steal"}, "/"),
        ({"callbackURL": "https://app.mana.how.evil.example/"}, "/"),
        ({"callbackURL": "javascript:alert(1)"}, "/"),
        ({"next": "//evil.example/x"}, "/"),
        ({"next": "/\\evil.example"}, "/"),
        ({"next": "https://evil.example/"}, "/"),
    ],
)
def test_after_sign_in_only_trusted_targets(browser, user_factory, extra, location):
    user = user_factory()
    browser.show("/login")
    response = sign_in(browser, user.email, **extra)
    assert response.status_code == 302
    assert response["Location"] == location


def test_a_signed_in_browser_goes_straight_to_a_trusted_callback(browser, user_factory):
    user = user_factory()
    sign_in(browser, user.email)
    assert browser.get("/login", {"callbackURL": TRUSTED})["Location"] == TRUSTED
    assert browser.get("/login", {"callbackURL": "https://evil.example/"})["Location"] == "/"


def test_the_target_rides_along_in_hidden_fields_and_links(browser):
    page = browser.show("/login?callbackURL=https%3A%2F%2Fapp.mana.how%2Fx&next=%2Fsomewhere")
    assert hidden(page, "callbackURL") == "https://app.mana.how/x"
    assert hidden(page, "next") == "/somewhere"
    assert "/forgot-password?callbackURL=https%3A%2F%2Fapp.mana.how%2Fx" in page.content.decode()
    dropped = browser.show("/login?callbackURL=https%3A%2F%2Fevil.example%2F")
    assert 'name="callbackURL"' not in dropped.content.decode()


def test_a_wrong_password_is_a_form_error_counted_like_the_api(browser, user_factory):
    user = user_factory()
    response = sign_in(browser, user.email, "not-the-password")
    assert response.status_code == 400
    assert "The email address or the password is not correct." in text(response)
    assert 'role="alert"' in response.content.decode()
    assert not browser.signed_in()
    assert SecurityEvent.objects.filter(user=user, type="LOGIN_FAILURE").count() == 1
    assert LoginThrottle.objects.get(scope=f"acct:{user.email_key}").failures == 1


def test_an_unknown_address_gets_the_same_answer(browser):
    response = sign_in(browser, "nobody@example.com", "whatever-password")
    assert response.status_code == 400
    assert "The email address or the password is not correct." in text(response)
    assert LoginAttempt.objects.filter(reason="unknown").count() == 1


def test_missing_fields_are_linked_from_the_error_summary(browser):
    response = browser.submit("/login", {"email": "", "password": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert '<a href="#id_email">' in body and '<a href="#id_password">' in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="id_email_error"' in body
    assert 'id="id_email_error"' in body


def test_a_locked_account_shows_the_remaining_time(browser, user_factory):
    user = user_factory()
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        sign_in(Browser(), user.email, "wrong-password-1")
    response = sign_in(browser, user.email)
    assert response.status_code == 429
    minutes = settings.LOCKOUT_DURATION_SECONDS // 60
    assert f"locked for {minutes} more minutes" in text(response)
    assert int(response["Retry-After"]) > (minutes - 1) * 60
    assert not browser.signed_in()


def test_a_browser_that_signed_in_before_is_not_locked_out_by_strangers(user_factory):
    user = user_factory()
    laptop = Browser()
    sign_in(laptop, user.email)
    laptop.submit("/logout", {})
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        sign_in(Browser(), user.email, "wrong-password-1")
    assert sign_in(Browser(), user.email).status_code == 429
    laptop.show("/login")
    response = sign_in(laptop, user.email)
    assert response.status_code == 302 and laptop.signed_in()


def test_an_unverified_address_can_ask_for_the_mail_again(browser, user_factory, mailoutbox):
    user = user_factory(verified=False)
    response = sign_in(browser, user.email)
    assert response.status_code == 403
    assert "Confirm your email address first" in text(response)
    assert 'value="resend"' in response.content.decode()
    mailoutbox.clear()
    sent = browser.submit(
        "/login", {"email": user.email, "action": "resend", "callbackURL": TRUSTED}
    )
    assert sent.status_code == 200 and "Check your mail" in text(sent)
    link = link_in(last_mail(mailoutbox, "Confirm your email"), "/api/v1/auth/verify-email")
    assert query_of(link)["callbackURL"] == [TRUSTED]


def test_email_me_a_link_needs_no_password_and_carries_the_target(
    browser, user_factory, mailoutbox
):
    user = user_factory()
    mailoutbox.clear()
    response = browser.submit(
        "/login", {"email": user.email, "password": "", "action": "link", "next": "/somewhere"}
    )
    assert response.status_code == 200 and "Check your mail" in text(response)
    link = link_in(last_mail(mailoutbox, "sign-in link"), "/magic-link")
    assert link.startswith(settings.PUBLIC_PAGES_URL + "/magic-link?")
    assert query_of(link)["callbackURL"] == [settings.BASE_URL + "/somewhere"]


def test_the_same_answer_for_a_link_to_an_unknown_address(browser, mailoutbox):
    response = browser.submit("/login", {"email": "nobody@example.com", "action": "link"})
    assert response.status_code == 200 and "Check your mail" in text(response)
    assert len(mailoutbox) == 0


def test_the_login_rate_limit_applies(browser, user_factory, settings):
    settings.RATE_LIMIT_OVERRIDES = {"login-ip": 2}
    user = user_factory()
    for _ in range(2):
        sign_in(Browser(), user.email, "wrong-password-1")
    response = sign_in(browser, user.email)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "Too many requests." in text(response)


def _second_step(browser: Browser, user: Any, frozen: Any) -> tuple[Any, str, list[str]]:
    from rest_framework.test import APIClient

    from tests.conftest import login_tokens

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(api, user)['accessToken']}")
    secret, backup = enable_totp(api, frozen)
    step = sign_in(browser, user.email)
    return step, secret, backup


def test_the_second_factor_step(browser, user_factory):
    user = user_factory()
    with frozen_clock() as frozen:
        step, secret, _ = _second_step(browser, user, frozen)
        assert step.status_code == 200 and "One more step" in text(step)
        assert not browser.signed_in()
        token = hidden(step, "mfa_token")
        wrong = browser.submit(
            "/login/mfa", {"mfa_token": token, "method": "totp", "code": "000000"}
        )
        assert wrong.status_code == 400
        assert "The code is not correct. 4 attempts left." in text(wrong)
        assert 'value="000000"' not in wrong.content.decode()  # never shown again
        frozen.tick(2)  # past django-otp's back-off after a wrong code
        done = browser.submit(
            "/login/mfa",
            {"mfa_token": token, "method": "totp", "code": code_at(secret), "next": "/x"},
        )
    assert done.status_code == 302 and done["Location"] == "/x"
    assert browser.signed_in()
    assert browser.cookies[settings.DEVICE_COOKIE_NAME].value
    assert Session.objects.filter(user=user, auth_method="password+totp").count() == 1


def test_a_backup_code_finishes_the_second_step(browser, user_factory):
    user = user_factory()
    with frozen_clock() as frozen:
        step, _, backup = _second_step(browser, user, frozen)
        done = browser.submit(
            "/login/mfa",
            {"mfa_token": hidden(step, "mfa_token"), "method": "backup_code", "code": backup[0]},
        )
    assert done.status_code == 302 and browser.signed_in()


def test_a_dead_second_step_sends_back_to_the_start(browser):
    browser.show("/login")
    response = browser.submit(
        "/login/mfa", {"mfa_token": "no-such-token", "method": "totp", "code": "123456"}
    )
    assert response.status_code == 400
    assert "The sign-in took too long. Please start again." in text(response)
    assert 'name="password"' in response.content.decode()


def test_sign_out_revokes_the_session_and_clears_the_cookie(browser, user_factory):
    user = user_factory()
    sign_in(browser, user.email)
    browser.show("/")
    response = browser.submit("/logout", {})
    assert response.status_code == 302 and response["Location"] == "/login"
    assert not browser.signed_in()
    assert Session.objects.get(user=user).revoked_at is not None
    assert SecurityEvent.objects.filter(user=user, type="LOGOUT").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_broken_database_says_try_again_and_counts_nothing(user_factory):
    user = user_factory(email="honest@example.com")
    browser = Browser()
    browser.show("/login")
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE accounts_user RENAME COLUMN "name" TO "name_drifted"')
    try:
        responses = [sign_in(browser, user.email) for _ in range(3)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE accounts_user RENAME COLUMN "name_drifted" TO "name"')
    assert [r.status_code for r in responses] == [503] * 3
    for response in responses:
        assert "unavailable for a moment" in text(response)
        assert "not correct" not in text(response)
        assert response["Retry-After"]
    assert not LoginThrottle.objects.filter(failures__gt=0).exists()
    assert not SecurityEvent.objects.filter(type="LOGIN_FAILURE").exists()
    assert sign_in(browser, user.email).status_code == 302


def test_the_api_sets_the_device_cookie_where_the_page_reads_it(user_factory):
    """The device cookie used to be scoped to ``/api/v1/auth/``: the hosted /login never saw
    it, so strangers guessing the password locked out a browser that had signed in before."""
    from rest_framework.test import APIClient

    user = user_factory()
    response = APIClient().post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.cookies[settings.DEVICE_COOKIE_NAME]["path"] == "/"
