"""Pre-registration takeover (issue 15, point 1).

An attacker registers the victim's address with his own password. Before, any mailed link that
first verified the address — a magic link the victim used, a verification link the attacker had
re-sent — made the attacker's password work on what is now the victim's account. Now a first
verification keeps the sign-up password only when the request proves it chose it (the browser
that signed up, or the password itself); otherwise the mailbox owner claims the account and
everything the sign-up password gave is void.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, User
from security import ratelimit
from security.models import SecurityEvent
from tests.passkeys.authenticator import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftAuthenticator
from tests.passkeys.conftest import (
    register_options,
    register_verify,
    sign_in_options,
    sign_in_verify,
)

pytestmark = pytest.mark.django_db
VICTIM = "victim@example.com"
ATTACKER_PASSWORD = "attacker-chose-this-one-77"
VICTIM_PASSWORD = "the-victims-own-passphrase-42"
REGISTER = "/api/v1/auth/register"
VERIFY = "/api/v1/auth/verify-email"


def register(client: APIClient, email: str = VICTIM, password: str = ATTACKER_PASSWORD) -> Any:
    response = client.post(REGISTER, {"email": email, "password": password}, format="json")
    assert response.status_code == 201, response.content
    return response


def login(email: str, password: str, client: APIClient | None = None) -> Any:
    return (client or APIClient()).post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )


def link_in(mail: Any) -> str:
    return re.search(r"https?://\S+", mail.body).group(0)


def token_in(mail: Any) -> str:
    return parse_qs(urlsplit(link_in(mail)).query)["token"][0]


def last_mail(mailoutbox: list[Any], subject_part: str) -> Any:
    found = [mail for mail in mailoutbox if subject_part in mail.subject]
    assert found, [mail.subject for mail in mailoutbox]
    return found[-1]


def open_link(client: APIClient, mail: Any) -> Any:
    parts = urlsplit(link_in(mail))
    return client.get(f"{parts.path}?{parts.query}")


def reset_with(client: APIClient, mail: Any, password: str, **extra: Any) -> Any:
    return client.post(
        "/api/v1/auth/reset-password",
        {"token": token_in(mail), "newPassword": password, **extra},
        format="json",
    )


def test_a_magic_link_does_not_hand_the_account_to_a_pre_registered_password(mailoutbox):
    register(APIClient())  # the attacker, with the victim's address
    victim = APIClient()
    victim.post("/api/v1/auth/magic-link", {"email": VICTIM}, format="json")
    signed_in = victim.post(
        "/api/v1/auth/magic-link/verify",
        {"token": token_in(last_mail(mailoutbox, "sign-in link"))},
        format="json",
    )
    assert signed_in.status_code == 200, signed_in.content
    assert signed_in.json()["user"]["emailVerified"] is True
    refused = login(VICTIM, ATTACKER_PASSWORD)
    assert refused.status_code == 401 and refused.json()["code"] == "INVALID_CREDENTIALS"
    user = User.objects.get_by_email(VICTIM)
    assert not user.has_usable_password()
    claimed = SecurityEvent.objects.get(user=user, type="ADDRESS_CLAIMED")
    assert claimed.metadata["via"] == "magic_link"
    # The owner chooses a password of their own through the mailed link.
    chosen = reset_with(victim, last_mail(mailoutbox, "choose your password"), VICTIM_PASSWORD)
    assert chosen.status_code == 200, chosen.content
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200
    assert login(VICTIM, ATTACKER_PASSWORD).json()["code"] == "INVALID_CREDENTIALS"


def test_a_verification_link_the_attacker_resent_does_not_confirm_his_password(mailoutbox):
    attacker = APIClient()
    register(attacker)
    mailoutbox.clear()
    attacker.post("/api/v1/auth/resend-verification", {"email": VICTIM}, format="json")
    mail = last_mail(mailoutbox, "Confirm your email")
    victim = APIClient()
    opened = open_link(victim, mail)
    assert opened.status_code == 302
    query = parse_qs(urlsplit(opened["Location"]).query)
    assert query["status"] == ["password_required"] and query["token"] == [token_in(mail)]
    assert not User.objects.get_by_email(VICTIM).email_verified  # nothing happened yet
    assert login(VICTIM, ATTACKER_PASSWORD).json()["code"] == "EMAIL_NOT_VERIFIED"
    asked = victim.post(VERIFY, {"token": token_in(mail)}, format="json")
    assert asked.status_code == 401 and asked.json()["code"] == "REAUTH_REQUIRED"
    assert asked.json()["details"] == {"passwordRequired": True}
    claimed = victim.post(VERIFY, {"token": token_in(mail), "withoutPassword": True}, format="json")
    assert claimed.status_code == 200
    assert claimed.json() == {"verified": True, "passwordRemoved": True}
    refused = login(VICTIM, ATTACKER_PASSWORD)
    assert refused.status_code == 401 and refused.json()["code"] == "INVALID_CREDENTIALS"
    assert "choose your password" in mailoutbox[-1].subject


def test_a_resend_from_the_victims_own_browser_is_not_bound_to_his_browser(mailoutbox):
    register(APIClient())  # the attacker
    victim = APIClient()
    register(victim, password=VICTIM_PASSWORD)  # "already registered": a cookie bound to nothing
    mailoutbox.clear()
    victim.post("/api/v1/auth/resend-verification", {"email": VICTIM}, format="json")
    opened = open_link(victim, last_mail(mailoutbox, "Confirm your email"))
    assert parse_qs(urlsplit(opened["Location"]).query)["status"] == ["password_required"]
    assert login(VICTIM, ATTACKER_PASSWORD).json()["code"] == "EMAIL_NOT_VERIFIED"


def test_signing_up_again_mails_a_link_to_choose_a_password_not_a_trap(mailoutbox):
    register(APIClient())  # the attacker
    mailoutbox.clear()
    victim = APIClient()
    register(victim, password=VICTIM_PASSWORD)
    (notice,) = mailoutbox
    assert notice.to == [VICTIM] and "Finish setting up" in notice.subject
    assert "/reset-password?token=" in notice.body  # a way in that needs no stranger's password
    assert "sign in" not in notice.body.lower()
    chosen = reset_with(victim, notice, VICTIM_PASSWORD)
    assert chosen.status_code == 200
    assert chosen.json()["factorsRevoked"] is True and chosen.json()["reason"] == "address_claimed"
    assert login(VICTIM, ATTACKER_PASSWORD).json()["code"] == "INVALID_CREDENTIALS"
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200


def test_the_registrant_opening_his_link_in_the_same_browser_keeps_his_password(mailoutbox):
    browser = APIClient()
    register(browser, password=VICTIM_PASSWORD)
    opened = open_link(browser, last_mail(mailoutbox, "Confirm your email"))
    assert parse_qs(urlsplit(opened["Location"]).query) == {"status": ["verified"]}
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200
    assert not SecurityEvent.objects.filter(type="ADDRESS_CLAIMED").exists()


def test_the_registrant_on_another_device_confirms_with_his_password(mailoutbox):
    register(APIClient(), password=VICTIM_PASSWORD)
    mail = last_mail(mailoutbox, "Confirm your email")
    phone = APIClient()
    assert parse_qs(urlsplit(open_link(phone, mail)["Location"]).query)["status"] == [
        "password_required"
    ]
    wrong = phone.post(
        VERIFY, {"token": token_in(mail), "password": "not-it-at-all"}, format="json"
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "REAUTH_REQUIRED"
    right = phone.post(
        VERIFY, {"token": token_in(mail), "password": VICTIM_PASSWORD}, format="json"
    )
    assert right.status_code == 200 and right.json() == {"verified": True, "passwordRemoved": False}
    assert login(VICTIM, VICTIM_PASSWORD).status_code == 200


def test_a_mail_scanner_fetching_the_link_uses_nothing_up(mailoutbox):
    browser = APIClient()
    register(browser, password=VICTIM_PASSWORD)
    mail = last_mail(mailoutbox, "Confirm your email")
    for _ in range(2):
        open_link(APIClient(), mail)  # a scanner: no cookie, no password
    token = OneTimeToken.objects.get(purpose="verify_email")
    assert token.used_at is None
    opened = open_link(browser, mail)
    assert parse_qs(urlsplit(opened["Location"]).query) == {"status": ["verified"]}


def test_with_unverified_sign_in_allowed_a_claim_ends_everything_the_stranger_added(
    settings, mailoutbox
):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    settings.WEBAUTHN_RP_ID, settings.WEBAUTHN_ORIGINS = DEFAULT_RP_ID, [DEFAULT_ORIGIN]
    register(APIClient())
    attacker = APIClient()
    tokens = login(VICTIM, ATTACKER_PASSWORD, attacker).json()  # unverified, yet signed in
    attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    device = SoftAuthenticator()
    added = register_verify(
        attacker, device.create(register_options(attacker, None).json()), "mine"
    )
    assert added.status_code == 201, added.content
    key = attacker.post(
        "/api/v1/me/api-keys", {"name": "backdoor", "scopes": ["profile:read"]}, format="json"
    ).json()["key"]
    setup = attacker.post("/api/v1/me/mfa/totp/setup", {}, format="json").json()
    confirmed = attacker.post(
        "/api/v1/me/mfa/totp/confirm", {"code": pyotp.TOTP(setup["secret"]).now()}, format="json"
    )
    assert confirmed.status_code == 200
    # The owner of the mailbox signs in with a magic link: the account becomes theirs.
    owner = APIClient()
    owner.post("/api/v1/auth/magic-link", {"email": VICTIM}, format="json")
    signed_in = owner.post(
        "/api/v1/auth/magic-link/verify",
        {"token": token_in(last_mail(mailoutbox, "sign-in link"))},
        format="json",
    )
    assert signed_in.status_code == 200, signed_in.content  # no stranger's second factor asked
    stale = APIClient().post(
        "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}, format="json"
    )
    assert stale.status_code == 401
    with_key = APIClient()
    with_key.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert with_key.get("/api/v1/auth/profile").json()["code"] == "TOKEN_INVALID"
    options = sign_in_options(APIClient()).json()
    passkey = sign_in_verify(APIClient(), options["ceremonyId"], device.get(options))
    assert passkey.status_code == 401 and passkey.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    event = SecurityEvent.objects.get(type="ADDRESS_CLAIMED")
    assert event.metadata["passkeyCount"] == 1 and event.metadata["apiKeyCount"] == 1
    assert event.metadata["totpRemoved"] is True and event.metadata["sessionCount"] >= 1


def test_wrong_sign_up_passwords_on_verify_email_are_counted_without_redis(settings, mailoutbox):
    """The password is checked inside the verification's transaction, which the refusal rolls
    back; without Redis the per-account count must survive it (attacker's review, finding 2)."""
    settings.REDIS_URL = ""
    register(APIClient(), password=VICTIM_PASSWORD)
    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    phone = APIClient()  # not the browser that signed up: the password is asked for
    budget = ratelimit.budget(ratelimit.REAUTH_USER)
    for _ in range(budget):
        wrong = phone.post(VERIFY, {"token": token, "password": "a guess"}, format="json")
        assert (wrong.status_code, wrong.json()["code"]) == (401, "REAUTH_REQUIRED")
    locked = phone.post(VERIFY, {"token": token, "password": VICTIM_PASSWORD}, format="json")
    assert (locked.status_code, locked.json()["code"]) == (429, "RATE_LIMITED")
    assert User.objects.get(email_key=VICTIM).email_verified_at is None
