"""The sign-up cookie binds a verification link to the browser that signed up. Over TLS it is a
``__Host-`` cookie (Secure, Path=/, no Domain: no sibling subdomain can plant or overwrite
it); over plain http in development it keeps a plain name. The previous release's
``__Secure-`` name is never read (a sibling subdomain could plant it: attack2 F4), only
cleared."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from tests.accounts.test_preregistration import (
    VICTIM,
    VICTIM_PASSWORD,
    last_mail,
    login,
    open_link,
    register,
    token_in,
)
from tests.foundation.test_platform import GOOD_PRODUCTION, ROOT

pytestmark = pytest.mark.django_db

HOST_NAME = "__Host-mana.signup"
LEGACY_NAME = "__Secure-mana.signup"


@pytest.fixture
def over_tls(settings: Any) -> Any:
    """The cookie settings of a production (TLS) process, with a COOKIE_DOMAIN set: the
    sign-up cookie must ignore it."""
    settings.SSO_COOKIE_SECURE = True
    settings.SIGNUP_COOKIE_NAME = HOST_NAME
    settings.COOKIE_DOMAIN = "mana.how"
    return settings


def test_over_tls_the_signup_cookie_is_a_host_cookie(over_tls, mailoutbox):
    response = register(APIClient(), password=VICTIM_PASSWORD)
    cookie = response.cookies[HOST_NAME]
    assert cookie.value
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"
    assert cookie["domain"] == "" and cookie["samesite"] == "Lax"
    assert LEGACY_NAME not in response.cookies and "mana.signup" not in response.cookies


def test_the_host_cookie_keeps_the_password_in_the_browser_that_signed_up(over_tls, mailoutbox):
    browser = APIClient()
    register(browser, password=VICTIM_PASSWORD)
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert parse_qs(urlsplit(opened["Location"]).query) == {"status": ["verified"]}
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200
    cleared = opened.cookies[HOST_NAME]
    assert cleared.value == "" and cleared["secure"] and cleared["domain"] == ""


def test_a_cookie_under_the_previous_name_binds_nothing_and_is_cleared(over_tls, mailoutbox):
    """Even the right secret under ``__Secure-mana.signup`` keeps nothing: a sibling subdomain
    can plant that name (the attacker gets the secret from their own ``register``)."""
    secret = register(APIClient(), password=VICTIM_PASSWORD).cookies[HOST_NAME].value
    browser = APIClient()
    browser.cookies[LEGACY_NAME] = secret
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert parse_qs(urlsplit(opened["Location"]).query)["status"] == ["password_required"]
    cleared = opened.cookies[LEGACY_NAME]
    assert cleared.value == "" and cleared["secure"] and cleared["domain"] == ""
    assert login(VICTIM, VICTIM_PASSWORD).status_code != 200  # not verified: nothing used up


def test_a_planted_previous_name_cookie_does_not_verify_without_the_password(over_tls, mailoutbox):
    secret = register(APIClient(), password=VICTIM_PASSWORD).cookies[HOST_NAME].value
    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    browser = APIClient()
    browser.cookies[LEGACY_NAME] = secret
    refused = browser.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "REAUTH_REQUIRED"
    # The sign-up in flight at the upgrade verifies with its password (the page asks).
    verified = browser.post(
        "/api/v1/auth/verify-email", {"token": token, "password": VICTIM_PASSWORD}, format="json"
    )
    assert verified.status_code == 200, verified.content
    assert verified.cookies[LEGACY_NAME].value == ""
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200


def test_a_wrong_secret_under_the_previous_name_binds_nothing(over_tls, mailoutbox):
    register(APIClient(), password=VICTIM_PASSWORD)
    browser = APIClient()
    browser.cookies[LEGACY_NAME] = "not-the-secret"
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert parse_qs(urlsplit(opened["Location"]).query)["status"] == ["password_required"]


def test_in_development_over_http_the_name_has_no_prefix(mailoutbox):
    response = register(APIClient(), password=VICTIM_PASSWORD)
    cookie = response.cookies["mana.signup"]
    assert cookie.value and not cookie["secure"] and cookie["path"] == "/"
    assert HOST_NAME not in response.cookies


def test_a_production_process_names_it_with_the_host_prefix():
    base = {key: value for key, value in os.environ.items() if not key.startswith("MANA_")}
    env = {**base, **GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", "")}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; "
            "print(s.SIGNUP_COOKIE_NAME, hasattr(s, 'SIGNUP_COOKIE_LEGACY_NAME'))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split()[-2:] == [HOST_NAME, "False"], result.stderr
