"""Password reset and change, profile, email change, account deletion, own security events."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OneTimeToken, Session, User
from security.models import SecurityEvent
from tests.conftest import PASSWORD, login_tokens

pytestmark = pytest.mark.django_db
NEW = "a-brand-new-passphrase-77"


def token_from(mail) -> str:
    url = re.search(r"https?://\S+", mail.body).group(0)
    return parse_qs(urlsplit(url).query)["token"][0]


def _profile(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/auth/profile")


# --- Forgot / reset ---------------------------------------------------------------------------


def test_forgot_password_is_enumeration_safe(api_client, user_factory, mailoutbox):
    user_factory(email="known@example.com")
    mailoutbox.clear()
    known = api_client.post(
        "/api/v1/auth/forgot-password", {"email": "known@example.com"}, format="json"
    )
    unknown = api_client.post(
        "/api/v1/auth/forgot-password", {"email": "nobody@example.com"}, format="json"
    )
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [mail.to for mail in mailoutbox] == [["known@example.com"]]
    assert SecurityEvent.objects.filter(type="PASSWORD_RESET_REQUESTED").count() == 1


def test_reset_password_revokes_every_session_and_is_single_use(
    api_client, user_factory, mailoutbox
):
    user = user_factory(email="r@example.com")
    sessions = [login_tokens(APIClient(), user) for _ in range(2)]
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": "r@example.com"}, format="json")
    token = token_from(mailoutbox[0])
    response = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "factorsRevoked": False, "revoked": None, "reason": ""}
    for tokens in sessions:
        assert _profile(tokens["accessToken"]).json()["code"] == "SESSION_REVOKED"
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert SecurityEvent.objects.filter(user=user, type="PASSWORD_RESET").count() == 1
    login = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": NEW}, format="json"
    )
    assert login.status_code == 200
    again = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW + "x"}, format="json"
    )
    assert again.status_code == 400 and again.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_reset_password_with_weak_password_keeps_the_token(api_client, user_factory, mailoutbox):
    user_factory(email="w@example.com")
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": "w@example.com"}, format="json")
    token = token_from(mailoutbox[0])
    weak = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": "password"}, format="json"
    )
    assert weak.status_code == 400 and weak.json()["code"] == "WEAK_PASSWORD"
    ok = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW}, format="json"
    )
    assert ok.status_code == 200


def test_expired_reset_token(api_client, user_factory, mailoutbox):
    user_factory(email="e@example.com")
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": "e@example.com"}, format="json")
    token = token_from(mailoutbox[0])
    OneTimeToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW}, format="json"
    )
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_verify_token_cannot_reset_a_password(api_client, mailoutbox):
    api_client.post(
        "/api/v1/auth/register", {"email": "p@example.com", "password": NEW}, format="json"
    )
    token = token_from(mailoutbox[0])
    response = api_client.post(
        "/api/v1/auth/reset-password", {"token": token, "newPassword": NEW + "1"}, format="json"
    )
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


# --- Profile --------------------------------------------------------------------------------------


def test_profile_get_and_patch(auth_client):
    client = auth_client()
    assert client.get("/api/v1/auth/profile").json()["email"] == client.user.email
    response = client.patch(
        "/api/v1/auth/profile",
        {"name": "Neu", "locale": "de", "image": "https://cdn.mana.how/a.png"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Neu" and response.json()["locale"] == "de"
    event = SecurityEvent.objects.get(user=client.user, type="PROFILE_UPDATED")
    assert sorted(event.metadata["fields"]) == ["image", "locale", "name"]


@pytest.mark.parametrize(
    "field", [{"role": "admin"}, {"tier": "founder"}, {"email": "x@y.z"}, {"kind": "system"}]
)
def test_profile_refuses_mass_assignment(auth_client, field):
    client = auth_client()
    response = client.patch("/api/v1/auth/profile", field, format="json")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    user = User.objects.get(pk=client.user.pk)
    assert (user.role, user.access_tier, user.kind) == ("user", "public", "human")


def test_profile_bad_locale(auth_client):
    response = auth_client().patch("/api/v1/auth/profile", {"locale": "xx"}, format="json")
    assert response.json()["code"] == "VALIDATION_ERROR"


# --- Change password ------------------------------------------------------------------------------


def test_change_password_revokes_other_sessions_and_notifies(auth_client, mailoutbox):
    client = auth_client()
    other = login_tokens(APIClient(), client.user)
    mailoutbox.clear()
    response = client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    assert response.status_code == 200
    assert client.get("/api/v1/auth/profile").status_code == 200
    assert _profile(other["accessToken"]).json()["code"] == "SESSION_REVOKED"
    assert len(mailoutbox) == 1 and "password was changed" in mailoutbox[0].subject
    assert SecurityEvent.objects.filter(user=client.user, type="PASSWORD_CHANGED").count() == 1


def test_change_password_needs_the_current_password(auth_client):
    client = auth_client()
    response = client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": "wrong-password-1", "newPassword": NEW},
        format="json",
    )
    assert response.status_code == 401 and response.json()["code"] == "REAUTH_REQUIRED"
    assert User.objects.get(pk=client.user.pk).check_password(PASSWORD)


def test_change_password_policy(auth_client):
    response = auth_client().post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": "12345678"},
        format="json",
    )
    assert response.json()["code"] == "WEAK_PASSWORD"


# --- Change email -----------------------------------------------------------------------------


def test_change_email_applies_only_on_confirmation(auth_client, mailoutbox):
    client = auth_client()
    old = client.user.email
    mailoutbox.clear()
    response = client.post(
        "/api/v1/auth/change-email",
        {"newEmail": "New@Example.com", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 202
    assert User.objects.get(pk=client.user.pk).email == old
    recipients = sorted(mail.to[0] for mail in mailoutbox)
    assert recipients == sorted([old, "New@example.com"])
    confirm = next(mail for mail in mailoutbox if mail.to == ["New@example.com"])
    token = token_from(confirm)
    verified = client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert verified.status_code == 200
    user = User.objects.get(pk=client.user.pk)
    assert user.email == "New@example.com" and user.email_verified
    assert SecurityEvent.objects.filter(user=user, type="EMAIL_CHANGED").count() == 1


def _change_email_token(client, mailoutbox, new_email: str = "moved@example.com") -> str:
    mailoutbox.clear()
    client.post(
        "/api/v1/auth/change-email",
        {"newEmail": new_email, "password": PASSWORD},
        format="json",
    )
    return token_from(next(mail for mail in mailoutbox if mail.to == [new_email]))


def test_opening_the_change_email_link_changes_nothing(auth_client, mailoutbox):
    """A mail scanner or a link preview fetches the link: the GET must not confirm the change
    (the address would move without the person's click); it lands on the page's button."""
    client = auth_client()
    old = client.user.email
    token = _change_email_token(client, mailoutbox)
    for _ in range(2):  # a scanner may fetch twice
        opened = APIClient().get("/api/v1/auth/verify-email", {"token": token})
        assert opened.status_code == 302
        target = urlsplit(opened["Location"])
        assert parse_qs(target.query) == {"status": ["confirm_required"], "token": [token]}
    user = User.objects.get(pk=client.user.pk)
    assert user.email == old
    assert not SecurityEvent.objects.filter(user=user, type="EMAIL_CHANGED").exists()
    assert OneTimeToken.objects.get(user=user, purpose="change_email").used_at is None
    confirmed = APIClient().post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["verified"] is True
    assert User.objects.get(pk=client.user.pk).email == "moved@example.com"
    again = APIClient().post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert SecurityEvent.objects.filter(user=user, type="EMAIL_CHANGED").count() == 1


def test_a_used_change_email_link_opened_again_says_used(auth_client, mailoutbox):
    client = auth_client()
    token = _change_email_token(client, mailoutbox)
    APIClient().post("/api/v1/auth/verify-email", {"token": token}, format="json")
    opened = APIClient().get("/api/v1/auth/verify-email", {"token": token})
    assert parse_qs(urlsplit(opened["Location"]).query) == {
        "status": ["invalid"],
        "reason": ["used"],
    }


def test_change_email_target_taken_at_confirmation(auth_client, user_factory, mailoutbox):
    client = auth_client()
    mailoutbox.clear()
    client.post(
        "/api/v1/auth/change-email",
        {"newEmail": "later@example.com", "password": PASSWORD},
        format="json",
    )
    token = token_from(next(m for m in mailoutbox if m.to == ["later@example.com"]))
    user_factory(email="later@example.com")
    response = client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "CONFLICT"
    assert User.objects.get(pk=client.user.pk).email != "later@example.com"


def test_change_email_to_a_taken_address_reveals_nothing(auth_client, user_factory, mailoutbox):
    user_factory(email="taken@example.com")
    client = auth_client()
    mailoutbox.clear()
    response = client.post(
        "/api/v1/auth/change-email",
        {"newEmail": "taken@example.com", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 202
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]


def test_change_email_needs_password(auth_client):
    response = auth_client().post(
        "/api/v1/auth/change-email",
        {"newEmail": "n@example.com", "password": "nope-nope-1"},
        format="json",
    )
    assert response.status_code == 401 and response.json()["code"] == "REAUTH_REQUIRED"


# --- Delete account -------------------------------------------------------------------------


def test_delete_account_removes_everything_and_keeps_an_anonymous_trail(auth_client):
    client = auth_client()
    user_id = client.user.pk
    response = client.delete("/api/v1/auth/account", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert not User.objects.filter(pk=user_id).exists()
    assert not Session.objects.filter(user_id=user_id).exists()
    assert SecurityEvent.objects.filter(user_id=user_id).count() == 0
    deleted = SecurityEvent.objects.get(type="ACCOUNT_DELETED")
    assert deleted.user_id is None and deleted.ip_address is None
    # earlier events survive, without the person
    assert SecurityEvent.objects.filter(type="LOGIN_SUCCESS", user__isnull=True).exists()


def test_delete_account_needs_password(auth_client):
    client = auth_client()
    response = client.delete("/api/v1/auth/account", {"password": "wrong-one-1"}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "REAUTH_REQUIRED"
    assert User.objects.filter(pk=client.user.pk).exists()


# --- Security events ----------------------------------------------------------------------------


def test_security_events_are_mine_and_paginated(auth_client):
    alice, bob = auth_client(), auth_client()
    for _ in range(3):
        login_tokens(APIClient(), alice.user)
    body = alice.get("/api/v1/auth/security-events?page=1&limit=2").json()
    assert body["page"] == 1 and body["limit"] == 2 and len(body["items"]) == 2
    assert body["total"] == SecurityEvent.objects.filter(user=alice.user).count()
    assert all(item["type"] for item in body["items"])
    bob_ids = set(SecurityEvent.objects.filter(user=bob.user).values_list("id", flat=True))
    everything = alice.get("/api/v1/auth/security-events?limit=100").json()["items"]
    assert not {item["id"] for item in everything} & {str(i) for i in bob_ids}


def test_security_events_bad_pagination(auth_client):
    response = auth_client().get("/api/v1/auth/security-events?limit=1000")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_security_event_table_refuses_update_and_delete(user_factory):
    from django.db import DatabaseError, transaction

    user = user_factory()
    event = SecurityEvent.objects.filter(user=user).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).update(type="LOGOUT")
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        # even with the anonymisation switch on, only anonymisation is allowed
        cursor.execute("SET LOCAL mana.audit_anonymise = 'on'")
        cursor.execute("UPDATE security_event SET type = 'LOGOUT' WHERE id = %s", [event.pk])
    assert SecurityEvent.objects.get(pk=event.pk).type == event.type


def test_wrong_passwords_behind_a_token_are_limited(auth_client):
    client = auth_client()
    for _ in range(10):
        response = client.post(
            "/api/v1/auth/change-password",
            {"currentPassword": "guess-guess-1", "newPassword": NEW},
            format="json",
        )
        assert response.json()["code"] == "REAUTH_REQUIRED"
    blocked = client.delete("/api/v1/auth/account", {"password": PASSWORD}, format="json")
    assert blocked.status_code == 429 and blocked.json()["code"] == "RATE_LIMITED"
    assert User.objects.filter(pk=client.user.pk).exists()


def test_password_change_and_reset_retire_outstanding_links(api_client, user_factory, mailoutbox):
    user = user_factory(email="links@example.com")
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
    reset = token_from(mailoutbox[-1])
    client = APIClient()
    tokens = login_tokens(client, user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW},
        format="json",
    )
    stale = api_client.post(
        "/api/v1/auth/reset-password", {"token": reset, "newPassword": NEW + "x"}, format="json"
    )
    assert stale.json()["code"] == "VERIFICATION_TOKEN_INVALID"
