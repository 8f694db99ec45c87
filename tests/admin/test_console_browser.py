"""The operators' console in a real browser (issue 19, item 11): headless Chromium (Debian's
package) driven by Playwright against the live server signs in with the password and the
current TOTP code in one form, sees the dashboard, and opens every registered model's list:
each answers 200 under the console's own header, and the browser logs no error.
"""

from __future__ import annotations

import pyotp
import pytest
from django.contrib import admin
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from accounts.mfa import totp_enroll_confirmed
from mana_auth.clientip import RequestMeta
from personas.api.serializers import persona_spec
from personas.services import persona_upsert
from spaces.services.spaces import space_create
from tests.admin.fixtures import PERSONA_BODY
from tests.conftest import PASSWORD
from tests.passkeys.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]

BRAND = "Mana operators' console"


def test_an_operator_signs_in_with_a_code_and_opens_every_list(
    transactional_db, live_server, user_factory, monkeypatch
):
    # Playwright's sync API runs an event loop in this thread; the test touches the database
    # only between browser steps, as Django's docs allow.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    origin = live_server.url
    operator = user_factory(
        email="ops@example.com", is_staff=True, is_superuser=True, role="admin", name="Ops"
    )
    secret = pyotp.parse_uri(
        totp_enroll_confirmed(user=operator, meta=RequestMeta()).otpauth_uri
    ).secret
    alice = user_factory(email="alice@example.com")
    space_create(user=alice, name="Alice & Co", type="team", meta=RequestMeta())
    persona_upsert(spec=persona_spec(PERSONA_BODY), meta=RequestMeta(), actor=operator)
    lists = sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    )
    problems: list[str] = []
    failed: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(locale="en-US").new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            # A failed load is reported with its address instead (the browser's own favicon
            # probe is no page's doing).
            page.on(
                "response",
                lambda response: (
                    failed.append(f"{response.status} {response.url}")
                    if response.status >= 400 and not response.url.endswith("/favicon.ico")
                    else None
                ),
            )

            page.goto(f"{origin}/admin/")
            page.wait_for_url(f"{origin}/admin/login/?next=/admin/")
            expect(page.locator("#site-name")).to_have_text(BRAND)
            expect(page.locator("select")).to_have_count(0)  # no device picker
            page.locator("#id_username").fill(operator.email)
            page.locator("#id_password").fill(PASSWORD)
            page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Sign in").click()  # the first submit is enough

            page.wait_for_url(f"{origin}/admin/")
            expect(page).to_have_title(f"Dashboard | {BRAND}")
            expect(page.locator("#dashboard")).to_contain_text("Sign-ups today")
            expect(page.locator("#dashboard-events")).to_contain_text("PERSONA_UPSERTED")
            expect(page.get_by_text("Groups", exact=True)).to_have_count(0)

            for path in lists:
                response = page.goto(f"{origin}{path}")
                assert response is not None and response.status == 200, path
                expect(page.locator("#site-name")).to_have_text(BRAND)
                expect(page.locator("#changelist")).to_be_visible()
                assert "Server Error" not in page.content(), path
        finally:
            browser.close()
            connections.close_all()

    assert len(lists) >= 15
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []
    assert failed == []
