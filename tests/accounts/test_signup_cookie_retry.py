"""A second sign-up submit in the same browser (double click, retry) keeps the first submit's
binding: the cookie carries the secrets of the browser's last three sign-ups, so the owner's
own verification link still verifies there without asking for the password (attack2 F14)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from security.models import SecurityEvent
from tests.accounts.test_preregistration import (
    VICTIM,
    VICTIM_PASSWORD,
    last_mail,
    login,
    open_link,
    register,
)
from tests.pages.conftest import Browser

pytestmark = pytest.mark.django_db


def _status(opened) -> list[str]:
    return parse_qs(urlsplit(opened["Location"]).query)["status"]


def test_a_second_submit_keeps_the_first_links_binding(mailoutbox):
    browser = APIClient()
    first = register(browser, password=VICTIM_PASSWORD).cookies[settings.SIGNUP_COOKIE_NAME]
    second = register(browser, password=VICTIM_PASSWORD).cookies[settings.SIGNUP_COOKIE_NAME]
    assert second.value and second.value != first.value  # always a Set-Cookie, a new secret
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert _status(opened) == ["verified"]
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200
    assert not SecurityEvent.objects.filter(type="ADDRESS_CLAIMED").exists()


def test_the_cookie_keeps_only_the_last_three_secrets(mailoutbox):
    browser = APIClient()
    values = [
        register(browser, email=f"p{n}@example.com").cookies[settings.SIGNUP_COOKIE_NAME].value
        for n in range(4)
    ]
    kept = values[-1].split(".")
    assert len(kept) == 3 and kept[0] == values[3].split(".")[0]
    assert kept[1:] == [values[2].split(".")[0], values[1].split(".")[0]]
    # The oldest sign-up's link is no longer bound to this browser.
    mails = [m for m in mailoutbox if "Confirm your email" in m.subject]
    first = next(m for m in mails if m.to == ["p0@example.com"])
    assert _status(open_link(browser, first)) == ["password_required"]
    newest = next(m for m in mails if m.to == ["p3@example.com"])
    assert _status(open_link(browser, newest)) == ["verified"]


def test_junk_in_the_cookie_is_dropped_and_binds_nothing(mailoutbox):
    browser = APIClient()
    browser.cookies[settings.SIGNUP_COOKIE_NAME] = "not-a-secret.su_<script>"
    value = register(browser, password=VICTIM_PASSWORD).cookies[settings.SIGNUP_COOKIE_NAME].value
    assert "." not in value and value.startswith("su_")


def test_the_signup_page_keeps_the_first_submits_binding(mailoutbox):
    browser = Browser()
    form = {"email": VICTIM, "password": VICTIM_PASSWORD, "name": ""}
    for _ in range(2):
        browser.show("/signup")
        answered = browser.submit("/signup", form)
        assert answered.status_code == 200, answered.content
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert _status(opened) == ["verified"]
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200
