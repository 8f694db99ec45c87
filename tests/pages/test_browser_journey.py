"""One person's way through the pages in a real browser: headless Chromium (Debian's package,
never a downloaded one) driven by Playwright against the live server, with the DevTools
virtual authenticator standing in for Touch ID / Windows Hello.

Sign up → open the verification mail's link → sign in on /login → forgot password → reset on
the page → sign in with the new password → magic link → signed in → add a passkey → sign out
→ the sign-in page's autofill (conditional mediation) offers the passkey and signs in.

The mail is read from the outbox the live server's queue delivers to; every link is opened as
mailed (``BASE_URL`` and ``PUBLIC_PAGES_URL`` are the live server). Console errors (a CSP
violation included) fail the test. Never skipped: a missing browser is a failure.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from accounts.models import Passkey, Session, User
from security.models import SecurityEvent
from tests.pages.conftest import link_in
from tests.passkeys.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]

EMAIL = "journey@example.com"
FIRST = "a-first-long-passphrase-41"
SECOND = "a-second-long-passphrase-42"


def mailed_link(mailoutbox: list[Any], subject_part: str, path: str) -> str:
    found = [mail for mail in mailoutbox if subject_part in mail.subject]
    assert found, [mail.subject for mail in mailoutbox]
    return link_in(found[-1], path)


def sign_in_with_password(page: Page, origin: str, password: str) -> None:
    page.goto(f"{origin}/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{origin}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")


def sign_out(page: Page, origin: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{origin}/login")


def test_sign_up_to_passkey_in_chromium(live_server, settings, mailoutbox, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test reads the database
    # (the mail queue) between steps while no coroutine runs, as Django's docs allow.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    origin = live_server.url
    assert origin.startswith("http://localhost:")
    settings.BASE_URL = settings.PUBLIC_PAGES_URL = origin
    settings.DEFAULT_REDIRECT_URL = f"{origin}/verify-email"
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [origin]
    problems: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="en-US")
            page = context.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            devtools = context.new_cdp_session(page)
            devtools.send("WebAuthn.enable", {"enableUI": False})
            authenticator = devtools.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )["authenticatorId"]

            # Sign up, then the verification mail's link, in the same browser.
            page.goto(f"{origin}/")
            page.get_by_role("link", name="Create an account").click()
            page.get_by_label("Name (optional)").fill("Journey Person")
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(FIRST)
            page.get_by_role("button", name="Create account").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Check your mail")
            page.goto(mailed_link(mailoutbox, "Confirm your email", "/api/v1/auth/verify-email"))
            expect(page).to_have_url(f"{origin}/verify-email?status=verified")
            expect(page.get_by_role("heading", level=1)).to_have_text("Your address is confirmed")

            # Sign in on /login.
            page.get_by_role("link", name="Sign in").click()
            page.wait_for_url(f"{origin}/login")
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(FIRST)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{origin}/")
            expect(page.get_by_text(f"Signed in as {EMAIL}.")).to_be_visible()
            sign_out(page, origin)

            # Forgot the password: reset it on the page, sign in with the new one.
            page.get_by_role("link", name="Forgot your password?").click()
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_role("button", name="Send me a link").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Check your mail")
            page.goto(mailed_link(mailoutbox, "Reset your password", "/reset-password"))
            page.get_by_label("New password", exact=True).fill(SECOND)
            page.get_by_label("New password, once more").fill(SECOND)
            page.get_by_role("button", name="Change password").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")
            sign_in_with_password(page, origin, SECOND)
            sign_out(page, origin)

            # A magic link: the page's button signs in.
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_role("button", name="Email me a sign-in link instead").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Check your mail")
            page.goto(mailed_link(mailoutbox, "sign-in link", "/magic-link"))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{origin}/")
            expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")

            # Add a passkey on the signed-in page.
            page.get_by_role("button", name="Add a passkey").click()
            expect(page.locator("[data-passkey-add]")).to_have_attribute("data-state", "added")
            expect(page.get_by_role("status")).to_contain_text("The passkey was added.")
            credentials = devtools.send(
                "WebAuthn.getCredentials", {"authenticatorId": authenticator}
            )["credentials"]
            assert len(credentials) == 1 and credentials[0]["isResidentCredential"] is True
            # Sign out: the sign-out lands on /login, whose address field's autofill offers
            # the passkey (conditional mediation; the virtual authenticator picks it as a
            # person would). No button is pressed, nothing is typed.
            with page.expect_navigation(url=f"{origin}/login"):
                page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{origin}/", timeout=15_000)
            expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")
        finally:
            browser.close()
            # The outbox was read (and the queue delivered) on a connection of Playwright's
            # context, not the test's: close it here, or it outlives the test database.
            connections.close_all()

    assert [p for p in problems if not re.search(r"Failed to load resource", p)] == []
    user = User.objects.get(email=EMAIL)
    assert user.name == "Journey Person" and user.email_verified and user.check_password(SECOND)
    methods = list(Session.objects.filter(user=user).values_list("auth_method", flat=True))
    assert sorted(methods) == sorted(["password", "password", "magic_link", "passkey"]), methods
    assert Passkey.objects.get(user=user).last_used_at is not None
    assert SecurityEvent.objects.filter(user=user, type="PASSWORD_RESET").count() == 1
