"""Sign-up and the verification page: the mailed link verifies and lands on a page that says
what happened (or goes on to a trusted callback); a first verification outside the browser
that signed up asks for the sign-up password, or claims the account without it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, User
from security.models import SecurityEvent
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, hidden, last_mail, link_in, local, query_of, text

pytestmark = pytest.mark.django_db

TRUSTED = "https://app.mana.how/welcome"
VERIFY_LINK = "/api/v1/auth/verify-email"


def sign_up(browser: Browser, email: str = "new@example.com", **extra: str):
    """Sign up on the page; ``callbackURL`` is posted as given (a crafted form may carry
    anything: the server checks it again)."""
    browser.show("/signup")
    return browser.submit(
        "/signup", {"email": email, "password": PASSWORD, "name": "New Person", **extra}
    )


def verification_link(mailoutbox) -> str:
    return link_in(last_mail(mailoutbox, "Confirm your email"), VERIFY_LINK)


def test_signing_up_on_the_page_mails_a_link_and_binds_this_browser(browser, mailoutbox):
    response = sign_up(browser)
    assert response.status_code == 200 and "Check your mail" in text(response)
    assert browser.cookies[settings.SIGNUP_COOKIE_NAME]["httponly"]
    user = User.objects.get_by_email("new@example.com")
    assert user.name == "New Person" and user.locale == "en" and not user.email_verified
    opened = browser.get(local(verification_link(mailoutbox)))
    assert opened.status_code == 302
    assert opened["Location"] == "/verify-email?status=verified".replace(
        "/verify-email", settings.DEFAULT_REDIRECT_URL
    )
    page = browser.show(local(opened["Location"]))
    assert page.status_code == 200 and "Your address is confirmed" in text(page)
    assert User.objects.get_by_email("new@example.com").email_verified


def test_a_german_browser_signs_up_in_german(mailoutbox):
    browser = Browser(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    response = sign_up(browser, "neu@example.com")
    assert "Schau in dein Postfach" in text(response)
    assert User.objects.get_by_email("neu@example.com").locale == "de"
    assert "Bestätige deine E-Mail-Adresse" in last_mail(mailoutbox, "Bestätige").subject


def test_a_weak_password_shows_the_policys_reasons(browser):
    browser.show("/signup")
    response = browser.submit(
        "/signup", {"email": "weak@example.com", "password": "password", "name": ""}
    )
    assert response.status_code == 400
    assert "This password is too common." in text(response)
    assert '<a href="#id_password">' in response.content.decode()
    assert not User.objects.filter(email_key="weak@example.com").exists()


def test_the_policys_reasons_in_german():
    browser = Browser(HTTP_ACCEPT_LANGUAGE="de")
    browser.show("/signup")
    response = browser.submit(
        "/signup", {"email": "weak@example.com", "password": "password", "name": ""}
    )
    assert response.status_code == 400
    assert "Dieses Passwort ist zu üblich." in text(response)


def test_a_look_alike_address_is_refused(browser):
    browser.show("/signup")
    response = browser.submit(
        "/signup", {"email": "\u0130nfo@example.com", "password": PASSWORD, "name": ""}
    )
    assert response.status_code == 400
    assert "plain ASCII" in text(response)


def test_an_existing_address_gets_the_same_page(browser, user_factory, mailoutbox):
    user = user_factory(email="taken@example.com")
    mailoutbox.clear()
    response = sign_up(browser, user.email)
    assert response.status_code == 200 and "Check your mail" in text(response)
    assert "Someone tried to sign up" in mailoutbox[0].subject


def test_the_signup_cap_is_a_form_message(browser, settings):
    settings.MAX_DAILY_SIGNUPS = 0
    response = sign_up(browser)
    assert response.status_code == 403 and "No more sign-ups today" in text(response)


def test_the_page_and_register_share_the_sign_up_rate_limit(browser, settings, mailoutbox):
    # The limit is applied inside registration.sign_up: one count per sign-up, whichever way.
    settings.RATE_LIMIT_OVERRIDES = {"register-ip": 2}
    api = APIClient(REMOTE_ADDR="127.0.0.1")
    first = api.post(
        "/api/v1/auth/register", {"email": "api@example.com", "password": PASSWORD}, format="json"
    )
    assert first.status_code == 201
    assert sign_up(browser, "page@example.com").status_code == 200
    mailed = len(mailoutbox)
    limited = sign_up(browser, "late@example.com")
    assert limited.status_code == 429 and "Too many requests." in text(limited)
    assert int(limited["Retry-After"]) > 0
    assert not User.objects.filter(email="late@example.com").exists()
    assert len(mailoutbox) == mailed
    again = api.post(
        "/api/v1/auth/register", {"email": "api2@example.com", "password": PASSWORD}, format="json"
    )
    assert again.status_code == 429 and again.json()["code"] == "RATE_LIMITED"


def test_a_trusted_callback_rides_from_sign_up_to_the_verified_redirect(browser, mailoutbox):
    sign_up(browser, callbackURL=TRUSTED)
    link = verification_link(mailoutbox)
    assert query_of(link)["callbackURL"] == [TRUSTED]
    opened = browser.get(local(link))
    assert opened["Location"] == TRUSTED + "?status=verified"


def test_an_untrusted_callback_never_reaches_the_mail(browser, mailoutbox):
    sign_up(browser, callbackURL="https://evil.example/")
    assert "callbackURL" not in query_of(verification_link(mailoutbox))


def test_the_api_register_resend_and_forgot_take_a_callback(mailoutbox, user_factory):
    api = APIClient()
    created = api.post(
        "/api/v1/auth/register",
        {"email": "api@example.com", "password": PASSWORD, "callbackURL": TRUSTED},
        format="json",
    )
    assert created.status_code == 201
    assert query_of(verification_link(mailoutbox))["callbackURL"] == [TRUSTED]
    # A resend without a callback carries the sign-up's; one with its own carries that.
    mailoutbox.clear()
    api.post("/api/v1/auth/resend-verification", {"email": "api@example.com"}, format="json")
    assert query_of(verification_link(mailoutbox))["callbackURL"] == [TRUSTED]
    other = "http://localhost:5173/done"
    mailoutbox.clear()
    api.post(
        "/api/v1/auth/resend-verification",
        {"email": "api@example.com", "callbackURL": other},
        format="json",
    )
    assert query_of(verification_link(mailoutbox))["callbackURL"] == [other]
    user = user_factory(email="forgot@example.com")
    mailoutbox.clear()
    api.post(
        "/api/v1/auth/forgot-password",
        {"email": user.email, "callbackURL": TRUSTED},
        format="json",
    )
    reset = link_in(last_mail(mailoutbox, "Reset your password"), "/reset-password")
    assert reset.startswith(settings.PUBLIC_PAGES_URL + "/reset-password?")
    assert query_of(reset)["callbackURL"] == [TRUSTED]


@pytest.mark.parametrize(
    "callback", ["https://evil.example/", "javascript:alert(1)", "/relative", "x" * 300]
)
def test_an_untrusted_callback_is_ignored_not_refused(mailoutbox, callback):
    api = APIClient()
    created = api.post(
        "/api/v1/auth/register",
        {"email": "quiet@example.com", "password": PASSWORD, "callbackURL": callback},
        format="json",
    )
    assert created.status_code == 201
    assert "callbackURL" not in query_of(verification_link(mailoutbox))
    again = api.post(
        "/api/v1/auth/resend-verification",
        {"email": "quiet@example.com", "callbackURL": callback},
        format="json",
    )
    assert again.status_code == 202
    forgot = api.post(
        "/api/v1/auth/forgot-password",
        {"email": "quiet@example.com", "callbackURL": callback},
        format="json",
    )
    assert forgot.status_code == 202


def test_public_pages_url_moves_every_page_link(settings, mailoutbox, user_factory):
    settings.PUBLIC_PAGES_URL = "https://web.mana.how"
    user = user_factory()
    api = APIClient()
    api.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
    api.post("/api/v1/auth/magic-link", {"email": user.email}, format="json")
    assert link_in(last_mail(mailoutbox, "Reset"), "/reset-password").startswith(
        "https://web.mana.how/reset-password?token="
    )
    assert link_in(last_mail(mailoutbox, "sign-in link"), "/magic-link").startswith(
        "https://web.mana.how/magic-link?token="
    )


# --- The verification page ----------------------------------------------------------------


def test_a_used_link_says_so(browser, mailoutbox):
    sign_up(browser)
    link = local(verification_link(mailoutbox))
    browser.get(link)
    again = browser.get(link)
    assert again["Location"] == settings.DEFAULT_REDIRECT_URL + "?status=invalid&reason=used"
    page = browser.show(local(again["Location"]))
    assert page.status_code == 200
    assert "It was used already" in text(page)
    assert 'value="resend"' in page.content.decode()


def test_an_expired_link_says_so_and_offers_a_new_one(browser, mailoutbox):
    sign_up(browser)
    OneTimeToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    opened = browser.get(local(verification_link(mailoutbox)))
    assert query_of(opened["Location"])["reason"] == ["expired"]
    page = browser.show(local(opened["Location"]))
    assert "It has expired." in text(page)
    mailoutbox.clear()
    sent = browser.submit("/verify-email", {"action": "resend", "email": "new@example.com"})
    assert sent.status_code == 200 and "Check your mail" in text(sent)
    assert len(mailoutbox) == 1


def test_an_unknown_link_gives_no_reason(browser):
    opened = browser.get(VERIFY_LINK, {"token": "made-up"})
    assert opened["Location"] == settings.DEFAULT_REDIRECT_URL + "?status=invalid"


def test_another_browser_is_asked_for_the_sign_up_password(browser, mailoutbox):
    sign_up(browser)
    phone = Browser()
    opened = phone.get(local(verification_link(mailoutbox)))
    assert query_of(opened["Location"])["status"] == ["password_required"]
    page = phone.show(local(opened["Location"]))
    assert page.status_code == 200
    assert "enter it" in text(page) and 'name="password"' in page.content.decode()
    assert not User.objects.get_by_email("new@example.com").email_verified  # nothing used up
    token = hidden(page, "token")
    wrong = phone.submit(
        "/verify-email", {"token": token, "password": "not-it-at-all", "action": "password"}
    )
    assert wrong.status_code == 400 and "The password is not correct." in text(wrong)
    right = phone.submit(
        "/verify-email", {"token": token, "password": PASSWORD, "action": "password"}
    )
    assert right.status_code == 200 and "Your address is confirmed" in text(right)
    user = User.objects.get_by_email("new@example.com")
    assert user.email_verified and user.check_password(PASSWORD)


def test_confirming_without_the_password_claims_the_account(browser, mailoutbox):
    sign_up(browser)  # someone else's sign-up, with the owner's address
    owner = Browser()
    page = owner.show(local(owner.get(local(verification_link(mailoutbox)))["Location"]))
    claimed = owner.submit(
        "/verify-email", {"token": hidden(page, "token"), "action": "without_password"}
    )
    assert claimed.status_code == 200
    assert "The account is yours now." in text(claimed)
    user = User.objects.get_by_email("new@example.com")
    assert user.email_verified and not user.has_usable_password()
    assert SecurityEvent.objects.filter(user=user, type="ADDRESS_CLAIMED").exists()
    assert "choose your password" in last_mail(mailoutbox, "choose your password").subject


def test_after_the_password_question_the_trusted_callback_follows(browser, mailoutbox):
    sign_up(browser, callbackURL=TRUSTED)
    phone = Browser()
    opened = phone.get(local(verification_link(mailoutbox)))
    # The question is ours to ask; the callback learns the outcome afterwards.
    assert opened["Location"].startswith(settings.DEFAULT_REDIRECT_URL + "?")
    assert query_of(opened["Location"])["callbackURL"] == [TRUSTED]
    page = phone.show(local(opened["Location"]))
    assert hidden(page, "callbackURL") == TRUSTED
    done = phone.submit(
        "/verify-email",
        {
            "token": hidden(page, "token"),
            "password": PASSWORD,
            "action": "password",
            "callbackURL": TRUSTED,
        },
    )
    assert done.status_code == 302 and done["Location"] == TRUSTED + "?status=verified"


def test_a_link_without_status_asks_for_a_button_press(browser, mailoutbox):
    sign_up(browser)
    token = query_of(verification_link(mailoutbox))["token"][0]
    page = browser.show(f"/verify-email?token={token}")
    assert page.status_code == 200 and "Confirm my address" in text(page)
    assert not User.objects.get_by_email("new@example.com").email_verified
    done = browser.submit("/verify-email", {"token": token, "action": "confirm"})
    assert done.status_code == 200 and "Your address is confirmed" in text(done)
    assert not browser.cookies[settings.SIGNUP_COOKIE_NAME].value  # cleared


def test_the_confirm_button_elsewhere_turns_into_the_question(browser, mailoutbox):
    sign_up(browser)
    token = query_of(verification_link(mailoutbox))["token"][0]
    phone = Browser()
    phone.show(f"/verify-email?token={token}")
    asked = phone.submit("/verify-email", {"token": token, "action": "confirm"})
    assert asked.status_code == 200 and 'name="password"' in asked.content.decode()
    assert not User.objects.get_by_email("new@example.com").email_verified


def test_a_change_of_address_lands_on_its_own_message(auth_client, mailoutbox):
    client = auth_client()
    mailoutbox.clear()
    client.post(
        "/api/v1/auth/change-email",
        {"newEmail": "moved@example.com", "password": PASSWORD},
        format="json",
    )
    link = link_in(last_mail(mailoutbox, "Confirm your new"), VERIFY_LINK)
    token = query_of(link)["token"][0]
    opened = Browser().get(local(link))
    # The GET (a mail scanner's, a link preview's) only leads to the button.
    assert opened["Location"] == (
        settings.DEFAULT_REDIRECT_URL + f"?status=confirm_required&token={token}"
    )
    browser = Browser()
    page = browser.show(local(opened["Location"]))
    assert page.status_code == 200 and "Confirm my address" in text(page)
    assert User.objects.get(pk=client.user.pk).email != "moved@example.com"
    done = browser.submit("/verify-email", {"token": token, "action": "confirm"})
    assert done.status_code == 200 and "Your new address is confirmed" in text(done)
    assert User.objects.get(pk=client.user.pk).email == "moved@example.com"
    again = browser.submit("/verify-email", {"token": token, "action": "confirm"})
    assert User.objects.filter(email="moved@example.com").count() == 1
    assert "Your new address is confirmed" not in text(again)
    assert SecurityEvent.objects.filter(user=client.user, type="EMAIL_CHANGED").count() == 1
