"""The per-address budgets of the mails a person asks for (sign-in link 5/h, reset and
verification mails 3/h) can be spent by anyone who types the address. A browser that signed in
to the account before (a genuine device cookie of it) has its own per-address budget, as it has
for password sign-ins: a stranger's requests no longer keep the owner's device from getting a
link. The answers stay the same for known and unknown addresses."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.emails import email_key
from security import lockout, ratelimit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

STRANGER_IP = "203.0.113.50"

CASES = [
    ("/api/v1/auth/magic-link", ratelimit.MAGIC_EMAIL, True),
    ("/api/v1/auth/forgot-password", ratelimit.FORGOT_EMAIL, True),
    ("/api/v1/auth/resend-verification", ratelimit.RESEND_EMAIL, False),
]


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: frozen))


def _ask(client: APIClient, path: str, email: str, ip: str = "198.51.100.7"):
    return client.post(path, {"email": email}, format="json", REMOTE_ADDR=ip)


def _owner_device(user) -> APIClient:
    """The owner's browser after a password sign-in: it carries the device cookie."""
    browser = APIClient()
    signed_in = browser.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert signed_in.status_code == 200, signed_in.content
    assert browser.cookies[settings.DEVICE_COOKIE_NAME].value
    return browser


def _assert_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "RATE_LIMITED"


@pytest.mark.parametrize(("path", "limit", "verified"), CASES, ids=["magic", "forgot", "resend"])
def test_a_stranger_spending_the_budget_does_not_block_the_owners_device(
    shared_store, user_factory, mailoutbox, settings, path, limit, verified
):
    settings.REQUIRE_EMAIL_VERIFICATION = False  # the never-verified owner may sign in
    user = user_factory(email="owner@example.com", verified=verified)
    owner = _owner_device(user)
    stranger = APIClient()
    for index in range(limit.limit):
        assert _ask(stranger, path, user.email, ip=f"203.0.113.{index + 1}").status_code == 202
    _assert_limited(_ask(stranger, path, user.email, ip=STRANGER_IP))
    # The owner's device still gets its link.
    before = len([m for m in mailoutbox if m.to == [user.email]])
    asked = _ask(owner, path, user.email)
    assert asked.status_code == 202 and asked.json() == {"status": "accepted"}
    assert len([m for m in mailoutbox if m.to == [user.email]]) == before + 1
    # The device's own budget is a budget too.
    for _ in range(limit.limit - 1):
        assert _ask(owner, path, user.email).status_code == 202
    _assert_limited(_ask(owner, path, user.email))


@pytest.mark.parametrize(("path", "limit", "verified"), CASES, ids=["magic", "forgot", "resend"])
def test_a_device_cookie_of_another_account_buys_no_budget(
    shared_store, user_factory, settings, path, limit, verified
):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    user = user_factory(email="owner@example.com", verified=verified)
    other = _owner_device(user_factory(email="other@example.com"))
    for index in range(limit.limit):
        _ask(APIClient(), path, user.email, ip=f"203.0.113.{index + 1}")
    _assert_limited(_ask(other, path, user.email))
    forged = APIClient()
    forged.cookies[settings.DEVICE_COOKIE_NAME] = "forged:cookie"
    _assert_limited(_ask(forged, path, user.email))


@pytest.mark.parametrize(("path", "limit", "verified"), CASES, ids=["magic", "forgot", "resend"])
def test_the_device_budget_is_decided_without_looking_the_address_up(
    shared_store, user_factory, mailoutbox, settings, path, limit, verified
):
    """Known or not, the same answer: the signed cookie alone decides the budget, so a device
    cookie of an address without an account answers exactly as one whose account is there
    (and no mail goes out for the unknown one)."""
    settings.REQUIRE_EMAIL_VERIFICATION = False
    answers = []
    for email, known in (("kept@example.com", True), ("nobody@example.com", False)):
        if known:
            device = _owner_device(user_factory(email=email, verified=verified))
        else:  # a genuine cookie for an address without an account (e.g. deleted since)
            device = APIClient()
            device.cookies[settings.DEVICE_COOKIE_NAME] = lockout.device_cookie_make(
                email_key(email), "an-epoch"
            )
        for index in range(limit.limit):
            _ask(APIClient(), path, email, ip=f"203.0.113.{index + 1}")
        _assert_limited(_ask(APIClient(), path, email, ip=STRANGER_IP))
        mailoutbox.clear()
        over = _ask(device, path, email)
        answers.append((over.status_code, over.json(), len(mailoutbox)))
    assert answers == [(202, {"status": "accepted"}, 1), (202, {"status": "accepted"}, 0)]


@pytest.mark.parametrize(
    ("page", "data", "limit"),
    [
        ("/forgot-password", {}, ratelimit.FORGOT_EMAIL),
        ("/login", {"action": "link"}, ratelimit.MAGIC_EMAIL),
        ("/login", {"action": "resend"}, ratelimit.RESEND_EMAIL),
    ],
    ids=["forgot", "magic", "resend"],
)
def test_the_pages_give_the_owners_device_its_budget_too(
    user_factory, mailoutbox, settings, page, data, limit
):
    from tests.pages.conftest import Browser

    settings.REQUIRE_EMAIL_VERIFICATION = False
    user = user_factory(email="owner@example.com", verified=data.get("action") != "resend")
    device = _owner_device(user).cookies[settings.DEVICE_COOKIE_NAME].value
    path = {"/forgot-password": "/api/v1/auth/forgot-password", "/login": None}[page] or {
        "link": "/api/v1/auth/magic-link",
        "resend": "/api/v1/auth/resend-verification",
    }[data["action"]]
    for index in range(limit.limit):
        _ask(APIClient(), path, user.email, ip=f"203.0.113.{index + 1}")
    stranger = Browser()
    stranger.show(page)
    refused = stranger.submit(page, {"email": user.email, **data}, REMOTE_ADDR=STRANGER_IP)
    assert refused.status_code == 429
    owner = Browser()
    owner.cookies[settings.DEVICE_COOKIE_NAME] = device
    owner.show(page)
    mailoutbox.clear()
    answered = owner.submit(page, {"email": user.email, **data})
    assert answered.status_code == 200 and len(mailoutbox) == 1
