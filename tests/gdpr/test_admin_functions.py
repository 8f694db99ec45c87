"""The operators' variants (``GET/DELETE /api/v1/admin/users/{id}/data`` call these)."""

from __future__ import annotations

import pytest

from accounts import operators
from accounts.models import OutboxMessage, User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Conflict
from security.models import SecurityEvent
from spaces.models import Space

pytestmark = pytest.mark.django_db
META = RequestMeta(ip="198.51.100.4", user_agent="admin-console")


@pytest.fixture
def operator(user_factory) -> User:
    return user_factory(email="ops@example.com", role="admin", is_staff=True)


def test_admin_view_is_the_users_summary_and_is_recorded(rich_user, operator):
    summary = operators.admin_user_data_view(user=rich_user.user, actor=operator, meta=META)
    own = rich_user.client.get("/api/v1/me/data").json()
    assert set(summary) == set(own)
    assert summary["profile"]["userId"] == rich_user.user.pk
    assert summary["apiKeys"]["count"] == own["apiKeys"]["count"] == 1
    assert len(summary["spaces"]) == len(own["spaces"]) == 4
    event = SecurityEvent.objects.get(user=operator, type="ADMIN_ACTION")
    assert event.metadata == {"action": "user_data_view", "targetUserId": str(rich_user.user.pk)}
    assert event.ip_address == "198.51.100.4"
    # the person's own trail is untouched by the look
    assert not SecurityEvent.objects.filter(user=rich_user.user, type="ADMIN_ACTION").exists()


def test_admin_view_without_an_actor_writes_nothing(rich_user):
    before = SecurityEvent.objects.count()
    assert operators.admin_user_data_view(user=rich_user.user)["profile"]["email"]
    assert SecurityEvent.objects.count() == before


def test_admin_delete_removes_everything_and_records_both_sides(
    rich_user, operator, django_capture_on_commit_callbacks
):
    target = rich_user.user
    target_id = target.pk
    with django_capture_on_commit_callbacks(execute=True):
        operators.admin_user_data_delete(user=target, actor=operator, meta=META)
    assert not User.objects.filter(pk=target_id).exists()
    assert not Space.objects.filter(id=rich_user.team.id).exists()
    assert Space.objects.filter(id=rich_user.shared.id).exists()
    deleted = SecurityEvent.objects.get(type="ACCOUNT_DELETED")
    assert deleted.user_id is None and deleted.metadata == {"byAdmin": True}
    action = SecurityEvent.objects.get(user=operator, type="ADMIN_ACTION")
    assert action.metadata == {"action": "user_data_delete", "targetUserId": str(target_id)}
    assert OutboxMessage.objects.filter(user_id=target_id, event="user.deleted").exists()


def test_admin_cannot_delete_their_own_account_this_way(operator):
    with pytest.raises(Conflict):
        operators.admin_user_data_delete(user=operator, actor=operator, meta=META)
    assert User.objects.filter(pk=operator.pk).exists()
    assert not SecurityEvent.objects.filter(type="ACCOUNT_DELETED").exists()
