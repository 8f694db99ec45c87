"""A reset or a confirmation without the password of a never-verified account is an address
claim: it deletes the account's Spaces, sync data and encryption vault too, as it must when a
stranger made them (attack2 F9). Where unverified accounts may sign in, the person resetting
is often the one who made them, so the pages say what goes before anyone confirms, and the
API's reset preview carries ``claimWipes``."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from spaces.models import Space
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, hidden, last_mail, link_in, local, query_of, text
from tests.pages.test_recovery_pages import reset_link

pytestmark = pytest.mark.django_db

WARNING = "it also deletes its Spaces and everything in them"
VERIFY_WARNING = "Confirming without the password also deletes everything made in the account"


def _token(link: str) -> str:
    return query_of(link)["token"][0]


@pytest.mark.parametrize("verified", [False, True], ids=["never-verified", "verified"])
def test_the_reset_page_and_preview_say_what_a_claim_deletes(
    browser, user_factory, mailoutbox, settings, verified
):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    user = user_factory(email="lena@example.com", verified=verified)
    link = reset_link(browser, user.email, mailoutbox)
    preview = APIClient().post(
        "/api/v1/auth/reset-password/preview", {"token": _token(link)}, format="json"
    )
    assert preview.status_code == 200, preview.content
    assert preview.json()["claimWipes"] is (not verified)
    assert preview.json()["revokesFactors"] is (not verified)
    page = browser.show(local(link))
    assert page.status_code == 200
    assert (WARNING in text(page)) is (not verified)
    # Showing the page and the preview used nothing up and deleted nothing.
    assert Space.objects.filter(created_by=user).exists()
    assert User.objects.get(pk=user.pk).email_verified is verified


def test_the_german_reset_page_warns_too(user_factory, mailoutbox, settings):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    user = user_factory(email="lena@example.com", verified=False, locale="de")
    browser = Browser(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    page = browser.show(local(reset_link(browser, user.email, mailoutbox)))
    assert "löscht auch seine Spaces" in text(page)


def test_the_verify_page_says_what_confirming_without_the_password_deletes(browser, mailoutbox):
    browser.show("/signup")
    browser.submit("/signup", {"email": "new@example.com", "password": PASSWORD, "name": ""})
    phone = Browser()
    link = link_in(last_mail(mailoutbox, "Confirm your email"), "/api/v1/auth/verify-email")
    opened = phone.get(local(link))
    assert query_of(opened["Location"])["status"] == ["password_required"]
    page = phone.show(local(opened["Location"]))
    assert VERIFY_WARNING in text(page) and "its encrypted data" in text(page)
    assert hidden(page, "token")


@pytest.mark.parametrize("verified", [False, True], ids=["never-verified", "verified"])
def test_the_magic_link_page_says_what_a_claim_deletes(
    browser, user_factory, mailoutbox, settings, verified
):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    user = user_factory(email="lena@example.com", verified=verified)
    asked = APIClient().post("/api/v1/auth/magic-link", {"email": user.email}, format="json")
    assert asked.status_code == 202
    page = browser.show(local(link_in(last_mail(mailoutbox, "sign-in link"), "/magic-link")))
    assert page.status_code == 200
    assert ("signing in with this link makes the account yours" in text(page)) is (not verified)
    assert User.objects.get(pk=user.pk).email_verified is verified  # nothing used up
