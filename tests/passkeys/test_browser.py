"""End to end in a real browser: headless Chromium (Debian's package, never a downloaded one),
driven by Playwright, against the live server on ``localhost``, with the DevTools virtual
authenticator standing in for Touch ID / Windows Hello.

The page (``e2e_page.html``, served by the test URLconf from the same origin) does what the
login page does: it calls the real options/verify endpoints and hands their JSON to
``navigator.credentials.create()`` and ``.get()``.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (pinned in the dev extras);
``.ci/run`` installs both. This test never skips: a missing browser is a failure, not a pass.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from accounts.models import Passkey, Session
from security.models import SecurityEvent
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.passkeys.urls_browser")]


def test_register_and_sign_in_with_a_passkey_in_chromium(live_server, settings, user_factory):
    origin = live_server.url
    assert origin.startswith("http://localhost:")
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [origin]
    user = user_factory(email="browser@example.com")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            devtools = context.new_cdp_session(page)
            devtools.send("WebAuthn.enable", {"enableUI": False})
            authenticator_id = devtools.send(
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
            page.goto(f"{origin}/__e2e__/passkeys")

            login = page.evaluate("([e, p]) => window.e2e.login(e, p)", [user.email, PASSWORD])
            assert login["status"] == 200, login
            token = login["body"]["accessToken"]

            registered = page.evaluate("([t, n]) => window.e2e.register(t, n)", [token, "Chromium"])
            assert registered["status"] == 201, registered
            credentials = devtools.send(
                "WebAuthn.getCredentials", {"authenticatorId": authenticator_id}
            )["credentials"]
            assert len(credentials) == 1
            assert credentials[0]["isResidentCredential"] is True

            context.clear_cookies()
            discoverable = page.evaluate("() => window.e2e.signIn(null)")
            assert discoverable["status"] == 200, discoverable
            cookies = {cookie["name"]: cookie for cookie in context.cookies()}
            assert cookies[settings.SSO_COOKIE_NAME]["httpOnly"] is True

            with_email = page.evaluate("(e) => window.e2e.signIn(e)", user.email)
            assert with_email["status"] == 200, with_email
        finally:
            browser.close()

    for answer in (discoverable["body"], with_email["body"]):
        assert answer["tokenType"] == "Bearer"
        assert answer["accessToken"].count(".") == 2
        assert answer["refreshToken"].startswith("rt_")
        assert answer["user"]["id"] == str(user.id)
    passkey = Passkey.objects.get(user=user)
    assert passkey.id.hex == registered["body"]["id"].replace("-", "")
    assert passkey.credential_id_b64 == credentials[0]["credentialId"].rstrip("=").replace(
        "+", "-"
    ).replace("/", "_")
    assert passkey.last_used_at is not None
    assert Session.objects.filter(user=user, auth_method="passkey").count() == 2
    assert SecurityEvent.objects.filter(user=user, type="PASSKEY_ADDED").count() == 1
