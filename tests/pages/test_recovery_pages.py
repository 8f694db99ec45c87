"""Forgot password, the reset page (with what else can sign in, and the choice to remove it),
and the "this wasn't me" page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, OneTimeToken, Passkey, Session, User
from security.models import SecurityEvent
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, hidden, last_mail, link_in, local, query_of, text

pytestmark = pytest.mark.django_db

NEW = "a-brand-new-passphrase-77"
TRUSTED = "https://app.mana.how/back"


def reset_link(browser: Browser, email: str, mailoutbox, **extra: str) -> str:
    browser.show("/forgot-password")
    sent = browser.submit("/forgot-password", {"email": email, **extra})
    assert sent.status_code == 200
    return link_in(mailoutbox[-1], "/reset-password")


def add_passkey_and_key(user: User) -> None:
    Passkey.objects.create(
        user=user,
        credential_id=b"\x01" * 16,
        credential_id_b64="AQEBAQEBAQEBAQEBAQEBAQ",
        public_key=b"\x00",
        sign_count=0,
        name="Visit https://evil.example now",
    )
    api = APIClient()
    from tests.conftest import login_tokens

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(api, user)['accessToken']}")
    created = api.post(
        "/api/v1/me/api-keys", {"name": "ci", "scopes": ["profile:read"]}, format="json"
    )
    assert created.status_code == 201, created.content


def test_forgot_password_answers_the_same_for_every_address(browser, mailoutbox):
    browser.show("/forgot-password")
    response = browser.submit("/forgot-password", {"email": "nobody@example.com"})
    assert response.status_code == 200 and "Check your mail" in text(response)
    assert len(mailoutbox) == 0
    bad = browser.submit("/forgot-password", {"email": "not an address"})
    assert bad.status_code == 400 and '<a href="#id_email">' in bad.content.decode()


def test_forgot_password_is_rate_limited_like_the_api(browser, user_factory, settings):
    settings.RATE_LIMIT_OVERRIDES = {"forgot-email": 1}
    user = user_factory()
    browser.show("/forgot-password")
    browser.submit("/forgot-password", {"email": user.email})
    limited = browser.submit("/forgot-password", {"email": user.email})
    assert limited.status_code == 429 and "Too many requests." in text(limited)
    assert limited["Retry-After"]


def test_the_reset_page_lists_what_else_signs_in_without_using_the_link(
    browser, user_factory, mailoutbox
):
    user = user_factory()
    add_passkey_and_key(user)
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    assert page.status_code == 200
    body = text(page)
    assert user.email in body
    assert "Passkey “Visit now”" in body  # named as the mails name it: nothing clickable
    assert "evil.example" not in page.content.decode()
    assert "API key “ci” (sk_live_" in body
    assert 'name="revoke_factors"' in page.content.decode()
    assert OneTimeToken.objects.get(purpose="reset_password").used_at is None


def test_a_reset_on_the_page_ends_every_session(browser, user_factory, mailoutbox):
    user = user_factory()
    Browser().submit("/login", {"email": user.email, "password": PASSWORD})
    browser.submit("/login", {"email": user.email, "password": PASSWORD})
    link = reset_link(browser, user.email, mailoutbox)
    page = browser.show(local(link))
    done = browser.submit(
        "/reset-password",
        {"token": hidden(page, "token"), "new_password": NEW, "new_password_again": NEW},
    )
    assert done.status_code == 200 and "Your password is changed" in text(done)
    assert not browser.signed_in()
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert User.objects.get(pk=user.pk).check_password(NEW)
    assert SecurityEvent.objects.filter(user=user, type="PASSWORD_RESET").count() == 1
    again = browser.show(local(link))
    assert again.status_code == 400 and "It was used already" in text(again)
    signed = browser.submit("/login", {"email": user.email, "password": NEW})
    assert signed.status_code == 302


def test_also_revoking_every_factor(browser, user_factory, mailoutbox):
    user = user_factory()
    add_passkey_and_key(user)
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    done = browser.submit(
        "/reset-password",
        {
            "token": hidden(page, "token"),
            "new_password": NEW,
            "new_password_again": NEW,
            "revoke_factors": "on",
        },
    )
    assert done.status_code == 200
    assert "Also removed: passkeys: 1, API keys: 1." in text(done)
    assert not Passkey.objects.filter(user=user).exists()
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_mismatched_and_weak_passwords_are_refused_with_reasons(browser, user_factory, mailoutbox):
    user = user_factory()
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    token = hidden(page, "token")
    mismatch = browser.submit(
        "/reset-password",
        {"token": token, "new_password": NEW, "new_password_again": NEW + "x"},
    )
    assert mismatch.status_code == 400
    assert "The two passwords are not the same." in text(mismatch)
    weak = browser.submit(
        "/reset-password",
        {"token": token, "new_password": "password", "new_password_again": "password"},
    )
    assert weak.status_code == 400
    assert "This password is too common." in text(weak)
    assert OneTimeToken.objects.get(purpose="reset_password").used_at is None  # still usable
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_the_reset_page_speaks_the_accounts_language(user_factory, mailoutbox):
    user = user_factory(locale="de")
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    assert '<html lang="de">' in page.content.decode()
    assert "Neues Passwort wählen" in text(page)
    weak = browser.submit(
        "/reset-password",
        {
            "token": hidden(page, "token"),
            "new_password": "password",
            "new_password_again": "password",
        },
    )
    assert "Dieses Passwort ist zu üblich." in text(weak)


def test_a_trusted_callback_follows_the_reset(browser, user_factory, mailoutbox):
    user = user_factory()
    link = reset_link(browser, user.email, mailoutbox, callbackURL=TRUSTED)
    assert query_of(link)["callbackURL"] == [TRUSTED]
    page = browser.show(local(link))
    assert hidden(page, "callbackURL") == TRUSTED
    done = browser.submit(
        "/reset-password",
        {
            "token": hidden(page, "token"),
            "new_password": NEW,
            "new_password_again": NEW,
            "callbackURL": TRUSTED,
        },
    )
    assert done.status_code == 302 and done["Location"] == TRUSTED + "?status=password_changed"


def test_a_crafted_callback_is_not_followed(browser, user_factory, mailoutbox):
    user = user_factory()
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    done = browser.submit(
        "/reset-password",
        {
            "token": hidden(page, "token"),
            "new_password": NEW,
            "new_password_again": NEW,
            "callbackURL": "https://evil.example/",
        },
    )
    assert done.status_code == 200 and "Your password is changed" in text(done)


def test_an_expired_or_unknown_reset_link(browser, user_factory, mailoutbox):
    user = user_factory()
    link = reset_link(browser, user.email, mailoutbox)
    OneTimeToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = browser.show(local(link))
    assert expired.status_code == 400 and "It has expired." in text(expired)
    assert "/forgot-password" in expired.content.decode()
    unknown = browser.show("/reset-password?token=made-up")
    assert unknown.status_code == 400 and "It is not valid" in text(unknown)


# --- "This wasn't me" ---------------------------------------------------------------------


def report_link(user: User, mailoutbox) -> str:
    api = APIClient()
    from tests.conftest import login_tokens

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(api, user)['accessToken']}")
    mailoutbox.clear()
    api.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    return link_in(last_mail(mailoutbox, "password was changed"), "/report-compromise")


def test_the_report_page_explains_then_the_button_secures_the_account(
    browser, user_factory, mailoutbox
):
    user = user_factory()
    link = report_link(user, mailoutbox)
    assert link.startswith(settings.PUBLIC_PAGES_URL + "/report-compromise?token=")
    page = browser.show(local(link))
    assert page.status_code == 200 and "Secure my account" in text(page)
    assert not SecurityEvent.objects.filter(type="ACCOUNT_COMPROMISE_REPORTED").exists()
    done = browser.submit("/report-compromise", {"token": hidden(page, "token")})
    assert done.status_code == 200 and "Your account is secured" in text(done)
    assert "Sessions ended: 1." in text(done)
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_COMPROMISE_REPORTED").exists()
    assert not User.objects.get(pk=user.pk).has_usable_password()
    assert "locked down" in last_mail(mailoutbox, "locked down").subject
    again = browser.submit("/report-compromise", {"token": hidden(page, "token")})
    assert again.status_code == 400 and "It was used already" in text(again)


def test_an_unknown_report_link(browser):
    page = browser.show("/report-compromise?token=made-up")
    assert page.status_code == 400 and "This link does not work" in text(page)
