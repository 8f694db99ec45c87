"""Members: listing, role changes, removal, leaving; the owner rules and escalation attempts."""

from __future__ import annotations

import pytest

from security.models import SecurityEvent
from spaces.models import Membership, Space, SpaceRole

pytestmark = pytest.mark.django_db


def _role(space: Space, user) -> str | None:
    return Membership.objects.filter(space=space, user=user).values_list("role", flat=True).first()


def _url(team, user=None) -> str:
    base = f"/api/v1/spaces/{team.space.id}/members"
    return f"{base}/{user.id}" if user is not None else base


def test_members_list_owners_first(auth_client, team):
    response = auth_client(team.member).get(_url(team))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert [(m["email"], m["role"]) for m in body["items"]] == [
        ("owner@example.com", "owner"),
        ("admin@example.com", "admin"),
        ("member@example.com", "member"),
    ]
    assert set(body["items"][0]) == {"userId", "email", "name", "image", "role", "joinedAt"}


# --- Escalation attempts ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_member_cannot_promote_itself(auth_client, team, role):
    response = auth_client(team.member).patch(
        _url(team, team.member), {"role": role}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.member) == "member"
    assert not SecurityEvent.objects.filter(type="SPACE_MEMBER_ROLE_CHANGED").exists()


def test_member_cannot_change_others(auth_client, team):
    response = auth_client(team.member).patch(
        _url(team, team.owner), {"role": "member"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.owner) == "owner"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_admin_cannot_make_itself_owner(auth_client, team):
    response = auth_client(team.admin).patch(
        _url(team, team.admin), {"role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.admin) == "admin"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_admin_cannot_promote_others_to_owner(auth_client, team):
    response = auth_client(team.admin).patch(
        _url(team, team.member), {"role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.member) == "member"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_admin_cannot_demote_an_owner(auth_client, team):
    response = auth_client(team.admin).patch(
        _url(team, team.owner), {"role": "admin"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.owner) == "owner"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_admin_cannot_remove_an_owner(auth_client, team):
    response = auth_client(team.admin).delete(_url(team, team.owner))
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.owner) == "owner"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_member_cannot_remove_others(auth_client, team):
    response = auth_client(team.member).delete(_url(team, team.admin))
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert _role(team.space, team.admin) == "admin"
    assert not SecurityEvent.objects.filter(type__startswith="SPACE_MEMBER").exists()


def test_role_change_in_another_space_is_404(auth_client, team, space_factory):
    other = space_factory(name="Other")
    client = auth_client(team.owner)
    response = client.patch(
        f"/api/v1/spaces/{other.id}/members/{team.member.id}", {"role": "admin"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert _role(team.space, team.member) == "member"
    assert not SecurityEvent.objects.filter(type="SPACE_MEMBER_ROLE_CHANGED").exists()


def test_changing_a_non_member_is_404(auth_client, team, user_factory):
    stranger = user_factory()
    response = auth_client(team.owner).patch(_url(team, stranger), {"role": "admin"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


# --- Allowed changes --------------------------------------------------------------------------


def test_admin_promotes_a_member_to_admin(auth_client, team):
    response = auth_client(team.admin).patch(
        _url(team, team.member), {"role": "admin"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert _role(team.space, team.member) == "admin"
    event = SecurityEvent.objects.get(type="SPACE_MEMBER_ROLE_CHANGED")
    assert event.user_id == team.admin.id
    assert event.metadata == {
        "spaceId": str(team.space.id),
        "memberId": str(team.member.id),
        "previous": "member",
        "role": "admin",
    }


def test_owner_promotes_to_owner_and_can_then_step_down(auth_client, team):
    client = auth_client(team.owner)
    assert client.patch(_url(team, team.admin), {"role": "owner"}, format="json").status_code == 200
    response = client.patch(_url(team, team.owner), {"role": "member"}, format="json")
    assert response.status_code == 200
    assert _role(team.space, team.owner) == "member"
    assert _role(team.space, team.admin) == "owner"


def test_last_owner_cannot_be_demoted(auth_client, team):
    response = auth_client(team.owner).patch(
        _url(team, team.owner), {"role": "admin"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert _role(team.space, team.owner) == "owner"


def test_invalid_role_is_a_validation_error(auth_client, team):
    response = auth_client(team.owner).patch(
        _url(team, team.member), {"role": "superuser"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_admin_removes_a_member(auth_client, team):
    response = auth_client(team.admin).delete(_url(team, team.member))
    assert response.status_code == 204
    assert _role(team.space, team.member) is None
    event = SecurityEvent.objects.get(type="SPACE_MEMBER_REMOVED")
    assert event.metadata["memberId"] == str(team.member.id)
    assert auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}").status_code == 404


def test_owner_cannot_remove_the_last_owner_that_is_itself(auth_client, team):
    response = auth_client(team.owner).delete(_url(team, team.owner))
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert _role(team.space, team.owner) == "owner"


def test_owner_removes_a_co_owner(auth_client, team):
    Membership.objects.filter(space=team.space, user=team.admin).update(role=SpaceRole.OWNER)
    response = auth_client(team.owner).delete(_url(team, team.admin))
    assert response.status_code == 204
    assert _role(team.space, team.admin) is None


def test_member_removing_itself_is_leaving(auth_client, team):
    response = auth_client(team.member).delete(_url(team, team.member))
    assert response.status_code == 204
    assert _role(team.space, team.member) is None
    assert SecurityEvent.objects.filter(type="SPACE_LEFT", user=team.member).exists()


# --- Leave ------------------------------------------------------------------------------------


def test_member_leaves(auth_client, team):
    response = auth_client(team.member).post(f"/api/v1/spaces/{team.space.id}/leave")
    assert response.status_code == 204
    assert _role(team.space, team.member) is None
    event = SecurityEvent.objects.get(type="SPACE_LEFT")
    assert event.metadata == {"spaceId": str(team.space.id)}


def test_last_owner_cannot_leave(auth_client, team):
    response = auth_client(team.owner).post(f"/api/v1/spaces/{team.space.id}/leave")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert _role(team.space, team.owner) == "owner"


def test_personal_space_cannot_be_left(auth_client):
    client = auth_client()
    personal = Space.objects.get(created_by=client.user, type="personal")
    response = client.post(f"/api/v1/spaces/{personal.id}/leave")
    assert response.status_code == 409
    assert response.json()["code"] == "PERSONAL_SPACE_UNDELETABLE"
    removed = client.delete(f"/api/v1/spaces/{personal.id}/members/{client.user.id}")
    assert removed.status_code == 409
    assert removed.json()["code"] == "PERSONAL_SPACE_UNDELETABLE"
    assert Membership.objects.filter(space=personal, user=client.user).exists()


def test_personal_space_owner_cannot_be_demoted(auth_client):
    client = auth_client()
    personal = Space.objects.get(created_by=client.user, type="personal")
    response = client.patch(
        f"/api/v1/spaces/{personal.id}/members/{client.user.id}", {"role": "member"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert _role(personal, client.user) == "owner"
    assert not SecurityEvent.objects.filter(type="SPACE_MEMBER_ROLE_CHANGED").exists()
