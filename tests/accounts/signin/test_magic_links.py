"""Magic links: enumeration-safe requests, single-use expiring tokens, second factors, lockout."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts import crypto
from accounts.models import OneTimeToken, Session, User
from security.models import SecurityEvent
from tests.accounts.signin.mfa_helpers import (
    code_at,
    enable_totp,
    finish,
    frozen_clock,
    password_login,
)

pytestmark = pytest.mark.django_db
REQUEST = "/api/v1/auth/magic-link"
VERIFY = "/api/v1/auth/magic-link/verify"


def link_from(mail) -> str:
    return re.search(r"https?://\S+", mail.body).group(0)


def token_from(mail) -> str:
    return parse_qs(urlsplit(link_from(mail)).query)["token"][0]


def request_link(client, email, **extra):
    return client.post(REQUEST, {"email": email, **extra}, format="json")


def verify(client, token):
    return client.post(VERIFY, {"token": token}, format="json")


def test_known_and_unknown_addresses_get_the_same_answer(api_client, user_factory, mailoutbox):
    user = user_factory(email="known@example.com")
    mailoutbox.clear()
    known = request_link(api_client, "Known@Example.com")
    unknown = request_link(api_client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"status": "accepted"}
    assert [mail.to for mail in mailoutbox] == [["known@example.com"]]
    assert SecurityEvent.objects.filter(type="MAGIC_LINK_REQUESTED").get().user == user
    token = token_from(mailoutbox[0])
    assert link_from(mailoutbox[0]) == f"http://localhost:8000/magic-link?token={token}"
    assert len(crypto.b64url_decode(token)) * 8 >= 128
    stored = OneTimeToken.objects.get(user=user, purpose="magic_link")
    assert stored.token_hash == crypto.hash_token(token) != token
    assert stored.expires_at - stored.created_at == timedelta(minutes=15)
    assert "15 minutes" in mailoutbox[0].body


def test_a_magic_link_signs_in_once(api_client, user_factory, mailoutbox):
    user = user_factory()
    mailoutbox.clear()
    request_link(api_client, user.email)
    token = token_from(mailoutbox[0])
    response = verify(api_client, token)
    assert response.status_code == 200
    assert response.json()["user"]["email"] == user.email and response.json()["accessToken"]
    assert response.cookies["mana.session_token"].value
    assert Session.objects.get(user=user).auth_method == "magic_link"
    event = SecurityEvent.objects.get(user=user, type="LOGIN_SUCCESS")
    assert event.metadata["method"] == "magic_link"
    again = verify(APIClient(), token)
    assert again.status_code == 400 and again.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_an_expired_or_unknown_magic_link_is_refused(api_client, user_factory, mailoutbox):
    user = user_factory()
    mailoutbox.clear()
    request_link(api_client, user.email)
    token = token_from(mailoutbox[0])
    with freeze_time(timezone.now() + timedelta(minutes=15, seconds=1)):
        expired = verify(api_client, token)
    assert expired.status_code == 400 and expired.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    unknown = verify(api_client, "x" * 43)
    assert unknown.status_code == 400 and unknown.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not Session.objects.filter(user=user).exists()


def test_a_reset_password_token_is_not_a_magic_link(api_client, user_factory, mailoutbox):
    user = user_factory()
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
    token = token_from(mailoutbox[0])
    response = verify(api_client, token)
    assert response.status_code == 400 and response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_using_one_link_voids_the_others(api_client, user_factory, mailoutbox):
    user = user_factory()
    mailoutbox.clear()
    request_link(api_client, user.email)
    request_link(api_client, user.email)
    first, second = (token_from(mail) for mail in mailoutbox)
    assert verify(api_client, second).status_code == 200
    assert verify(APIClient(), first).json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_a_magic_link_proves_the_address_but_not_the_sign_up_password(
    api_client, user_factory, mailoutbox
):
    user = user_factory(verified=False)
    assert password_login(APIClient(), user.email).json()["code"] == "EMAIL_NOT_VERIFIED"
    mailoutbox.clear()
    request_link(api_client, user.email)
    assert verify(api_client, token_from(mailoutbox[0])).status_code == 200
    assert User.objects.get(pk=user.pk).email_verified_at is not None
    assert SecurityEvent.objects.filter(user=user, type="EMAIL_VERIFIED").count() == 1
    # Whoever signed up chose that password; the link proved only the mailbox (issue 15.1).
    assert password_login(APIClient(), user.email).json()["code"] == "INVALID_CREDENTIALS"
    assert "choose your password" in mailoutbox[-1].subject


def test_a_totp_users_magic_link_ends_in_mfa_required(auth_client, mailoutbox):
    with frozen_clock() as frozen:
        client = auth_client()
        secret, _ = enable_totp(client, frozen)
        mailoutbox.clear()
        anonymous = APIClient()
        request_link(anonymous, client.user.email)
        token = token_from(mailoutbox[0])
        response = verify(anonymous, token)
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == "MFA_REQUIRED"
        assert body["details"]["methods"] == ["totp", "backup_code"]
        challenge = OneTimeToken.objects.get(user=client.user, purpose="mfa")
        assert challenge.payload["firstFactor"] == "magic_link"
        assert verify(APIClient(), token).json()["code"] == "VERIFICATION_TOKEN_INVALID"
        done = finish(anonymous, body["details"]["mfaToken"], code_at(secret))
        assert done.status_code == 200
        assert "mana.device" not in done.cookies  # no password was typed in this browser
        session = Session.objects.filter(user=client.user).order_by("-created_at").first()
        assert session.auth_method == "magic_link+totp"


def test_magic_links_work_while_password_sign_in_is_locked(api_client, user_factory, mailoutbox):
    user = user_factory()
    for _ in range(5):
        password_login(APIClient(), user.email, "wrong-password-1")
    locked = password_login(APIClient(), user.email)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    mailoutbox.clear()
    assert request_link(api_client, user.email).status_code == 202
    response = verify(api_client, token_from(mailoutbox[0]))
    assert response.status_code == 200
    assert password_login(APIClient(), user.email).json()["code"] == "ACCOUNT_LOCKED"


def test_a_trusted_callback_url_rides_in_the_link_to_the_page(api_client, user_factory, mailoutbox):
    # The link opens the magic-link page (its button spends the token), which then goes on to
    # the callback; the token never travels to the callback's app.
    user = user_factory()
    mailoutbox.clear()
    callback = "https://app.mana.how/auth/magic?next=%2Ftodo#top"
    request_link(api_client, user.email, callbackURL=callback)
    link = link_from(mailoutbox[0])
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost:8000", "/magic-link")
    query = parse_qs(parts.query)
    assert query["callbackURL"] == [callback] and len(query["token"]) == 1
    assert verify(api_client, query["token"][0]).status_code == 200


@pytest.mark.parametrize(
    "callback",
    ["https://evil.example/steal", "javascript:alert(1)", "//evil.example/x", "/relative"],
)
def test_an_untrusted_callback_url_is_ignored(api_client, user_factory, mailoutbox, callback):
    user = user_factory()
    mailoutbox.clear()
    request_link(api_client, user.email, callbackURL=callback)
    assert link_from(mailoutbox[0]).startswith("http://localhost:8000/magic-link?token=")


def test_the_link_ignores_the_host_header(api_client, user_factory, mailoutbox, settings):
    settings.ALLOWED_HOSTS = ["*"]
    user = user_factory()
    mailoutbox.clear()
    api_client.post(REQUEST, {"email": user.email}, format="json", HTTP_HOST="evil.example")
    assert link_from(mailoutbox[0]).startswith("http://localhost:8000/")


def test_personas_and_deactivated_accounts_get_no_link(api_client, user_factory, mailoutbox):
    persona = user_factory(email="p@example.com", kind="persona")
    inactive = user_factory(email="i@example.com", is_active=False)
    mailoutbox.clear()
    assert request_link(api_client, persona.email).status_code == 202
    assert request_link(api_client, inactive.email).status_code == 202
    assert mailoutbox == []
    assert not OneTimeToken.objects.filter(purpose="magic_link").exists()


def test_a_link_of_a_since_deactivated_account_does_not_sign_in(
    api_client, user_factory, mailoutbox
):
    user = user_factory()
    mailoutbox.clear()
    request_link(api_client, user.email)
    assert len(mailoutbox) == 1  # delivered while the account was active
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = verify(api_client, token_from(mailoutbox[0]))
    assert response.status_code == 400 and response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_magic_link_requests_are_rate_limited_per_address(api_client, user_factory, mailoutbox):
    user = user_factory()
    for index in range(5):
        client = APIClient(REMOTE_ADDR=f"10.0.0.{index + 1}")
        assert request_link(client, user.email).status_code == 202
    limited = request_link(APIClient(REMOTE_ADDR="10.0.0.9"), user.email)
    assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
    assert limited["Retry-After"]


def test_magic_link_requests_are_rate_limited_per_ip(api_client):
    for index in range(10):
        assert request_link(api_client, f"someone{index}@example.com").status_code == 202
    limited = request_link(api_client, "another@example.com")
    assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"


@pytest.mark.parametrize("body", [{}, {"email": "not-an-address"}, {"email": "a@b.c" * 100}])
def test_a_magic_link_request_needs_an_address(api_client, body):
    response = api_client.post(REQUEST, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_verify_needs_a_token(api_client):
    response = api_client.post(VERIFY, {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
