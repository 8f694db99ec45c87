"""DELETE /api/v1/me/data {password}: the account and everything of it (Art. 17)."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts import gdpr
from accounts.models import OutboxMessage, Session, User
from security.models import SecurityEvent
from spaces.models import Membership, Space
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/data"


def _nothing_deleted(rich_user) -> None:
    user = rich_user.user
    assert User.objects.filter(pk=user.pk).exists()
    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 2
    assert Space.objects.filter(id=rich_user.team.id).exists()
    assert Membership.objects.filter(user=user).count() == 4
    assert not SecurityEvent.objects.filter(type="ACCOUNT_DELETED").exists()
    assert not OutboxMessage.objects.exists()


def test_wrong_password_is_reauth_required_and_deletes_nothing(rich_user):
    response = rich_user.client.delete(URL, {"password": "not-my-password-1"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "REAUTH_REQUIRED"
    _nothing_deleted(rich_user)
    assert rich_user.client.get(URL).status_code == 200


def test_password_is_required_even_right_after_sign_in(rich_user):
    response = rich_user.client.delete(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "password" in response.json()["details"]["fields"]
    _nothing_deleted(rich_user)


def test_delete_needs_authentication(api_client):
    response = api_client.delete(URL, {"password": PASSWORD}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"


def test_password_guessing_is_rate_limited(auth_client, monkeypatch):
    from security import ratelimit

    monkeypatch.setattr(gdpr, "DELETE_USER", ratelimit.Limit("gdpr-delete-user", 3, 300))
    client = auth_client()
    for _ in range(3):
        response = client.delete(URL, {"password": "guess-guess-1"}, format="json")
        assert response.json()["code"] == "REAUTH_REQUIRED"
    response = client.delete(URL, {"password": PASSWORD}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "RATE_LIMITED"
    assert User.objects.filter(pk=client.user.pk).exists()


def test_delete_removes_the_account_and_ends_every_session(
    rich_user, django_capture_on_commit_callbacks
):
    user_id = rich_user.user.pk
    personal = Space.objects.get(created_by=rich_user.user, type="personal")
    with django_capture_on_commit_callbacks(execute=True):
        response = rich_user.client.delete(URL, {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    assert response.cookies[settings.SSO_COOKIE_NAME].value == ""
    assert not User.objects.filter(pk=user_id).exists()
    assert not Space.objects.filter(id=rich_user.team.id).exists()
    assert Space.objects.filter(id=rich_user.shared.id).exists()
    event = SecurityEvent.objects.get(type="ACCOUNT_DELETED")
    assert event.user_id is None and event.metadata == {"byAdmin": False}
    # The access token still verifies, but its session is gone.
    again = rich_user.client.get(URL)
    assert again.status_code == 401
    assert again.json()["code"] in ("SESSION_REVOKED", "TOKEN_INVALID")
    # Without MANA_CREDITS_URL only the sync-store purge is queued, and it ran after commit.
    (notice,) = OutboxMessage.objects.filter(user_id=user_id)
    assert (notice.target, notice.event) == ("sync_store", "user.deleted")
    assert notice.delivered_at is not None
    assert set(notice.payload["spaceIds"]) == {str(rich_user.team.id), str(personal.id)}
