"""Admin API, GDPR: an operator views or erases an account's data (accounts.gdpr does the work)."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from security.models import SecurityEvent
from spaces.models import Space

pytestmark = pytest.mark.django_db


def test_an_operator_views_an_accounts_data_summary_and_the_look_is_audited(
    admin_client, user_factory
):
    user = user_factory(email="subject@example.com", name="Subject")

    response = admin_client.get(f"/api/v1/admin/users/{user.id}/data")

    assert response.status_code == 200
    body = response.json()
    assert body["profile"]["email"] == "subject@example.com"
    assert "password" not in response.content.decode().lower()
    event = SecurityEvent.objects.get(type="ADMIN_ACTION", user=admin_client.user)
    assert event.metadata == {"action": "user_data_view", "targetUserId": str(user.id)}


def test_an_operator_erases_an_account_and_everything_of_it(admin_client, user_factory):
    user = user_factory(email="erase@example.com")

    response = admin_client.delete(f"/api/v1/admin/users/{user.id}/data")

    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Space.objects.filter(created_by_id=user.pk).exists()
    deleted = SecurityEvent.objects.get(type="ACCOUNT_DELETED")
    assert deleted.user is None and deleted.metadata["byAdmin"] is True
    action = SecurityEvent.objects.get(
        type="ADMIN_ACTION", user=admin_client.user, metadata__action="user_data_delete"
    )
    assert action.metadata["targetUserId"] == str(user.id)


def test_an_operator_cannot_erase_their_own_account_here(admin_client):
    response = admin_client.delete(f"/api/v1/admin/users/{admin_client.user.id}/data")

    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert User.objects.filter(pk=admin_client.user.pk).exists()


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_user_data_of_an_unknown_account_is_404(admin_client, method, user_id):
    response = getattr(admin_client, method)(f"/api/v1/admin/users/{user_id}/data")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
