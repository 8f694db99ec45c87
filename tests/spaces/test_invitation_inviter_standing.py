"""An invitation is only as good as its inviter's standing (issue 15, point 9): when the inviter
is removed from the Space, leaves it, is demoted below the role the invitation grants, or
deletes their account, their pending invitations are revoked (one audit event each), and a
link already mailed answers VERIFICATION_TOKEN_INVALID."""

from __future__ import annotations

import re

import pytest

from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from spaces.models import Invitation, Membership, SpaceRole
from spaces.services.spaces import membership_ensure_by_system
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _invite(client, space, email, role="member"):
    response = client.post(
        f"/api/v1/spaces/{space.id}/invitations", {"email": email, "role": role}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _token(mailoutbox, address) -> str:
    mail = [m for m in mailoutbox if m.to == [address]][-1]
    return re.search(r"token=([A-Za-z0-9_\-]+)", mail.body).group(1)


def _accept(client, token):
    return client.post("/api/v1/invitations/accept", {"token": token}, format="json")


def _revocations(invitation_id):
    return SecurityEvent.objects.filter(
        type="SPACE_INVITATION_REVOKED", metadata__invitationId=str(invitation_id)
    )


def test_removing_the_inviter_revokes_their_pending_invitation(
    auth_client, team, user_factory, mailoutbox
):
    guest = user_factory(email="guest@example.com")
    invitation_id = _invite(auth_client(team.admin), team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")

    removed = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/members/{team.admin.id}"
    )
    assert removed.status_code == 204

    invitation = Invitation.objects.get(id=invitation_id)
    assert invitation.status == "revoked"
    event = _revocations(invitation_id).get()
    assert event.user_id == team.owner.id
    assert event.metadata["reason"] == "inviter_removed"
    response = _accept(auth_client(guest), token)
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not Membership.objects.filter(space=team.space, user=guest).exists()


@pytest.mark.parametrize("how", ["leave", "remove-self"])
def test_an_inviter_who_leaves_takes_their_pending_invitations_along(
    auth_client, team, user_factory, mailoutbox, how
):
    guest = user_factory(email="guest@example.com")
    admin = auth_client(team.admin)
    invitation_id = _invite(admin, team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")

    if how == "leave":
        left = admin.post(f"/api/v1/spaces/{team.space.id}/leave")
    else:
        left = admin.delete(f"/api/v1/spaces/{team.space.id}/members/{team.admin.id}")
    assert left.status_code in (200, 204)

    assert Invitation.objects.get(id=invitation_id).status == "revoked"
    assert _revocations(invitation_id).get().metadata["reason"] == "inviter_left"
    response = _accept(auth_client(guest), token)
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_demoting_an_admin_to_member_revokes_their_invitations_only(
    auth_client, team, user_factory, mailoutbox
):
    guest = user_factory(email="guest@example.com")
    owner = auth_client(team.owner)
    by_admin = _invite(auth_client(team.admin), team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")
    by_owner = _invite(owner, team.space, "other@example.com")

    demoted = owner.patch(
        f"/api/v1/spaces/{team.space.id}/members/{team.admin.id}",
        {"role": "member"},
        format="json",
    )
    assert demoted.status_code == 200

    assert Invitation.objects.get(id=by_admin).status == "revoked"
    assert Invitation.objects.get(id=by_owner).status == "pending"
    assert _revocations(by_admin).get().metadata["reason"] == "inviter_demoted"
    assert not _revocations(by_owner).exists()
    response = _accept(auth_client(guest), token)
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_demoting_an_owner_to_admin_revokes_only_their_owner_invitations(
    auth_client, team, user_factory, mailoutbox
):
    second_owner = user_factory(email="second@example.com")
    Membership.objects.create(space=team.space, user=second_owner, role=SpaceRole.OWNER)
    inviter = auth_client(second_owner)
    as_owner = _invite(inviter, team.space, "heir@example.com", role="owner")
    as_member = _invite(inviter, team.space, "friend@example.com", role="member")

    demoted = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}/members/{second_owner.id}",
        {"role": "admin"},
        format="json",
    )
    assert demoted.status_code == 200

    assert Invitation.objects.get(id=as_owner).status == "revoked"
    assert Invitation.objects.get(id=as_member).status == "pending"


def test_accepting_is_refused_when_the_inviter_lost_standing_another_way(
    auth_client, team, user_factory, mailoutbox
):
    # A membership changed outside the services (the console, a repair script): the accept
    # itself checks the inviter's standing.
    guest = user_factory(email="guest@example.com")
    invitation_id = _invite(auth_client(team.admin), team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")
    Membership.objects.filter(space=team.space, user=team.admin).update(role=SpaceRole.MEMBER)

    response = _accept(auth_client(guest), token)

    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert Invitation.objects.get(id=invitation_id).status == "pending"
    assert not Membership.objects.filter(space=team.space, user=guest).exists()


def test_an_invitation_from_a_deleted_account_is_revoked(
    auth_client, team, user_factory, mailoutbox
):
    guest = user_factory(email="guest@example.com")
    admin = auth_client(team.admin)
    invitation_id = _invite(admin, team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")

    deleted = admin.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert deleted.status_code == 204

    invitation = Invitation.objects.get(id=invitation_id)
    assert invitation.status == "revoked" and invitation.invited_by_id is None
    event = _revocations(invitation_id).get()
    assert event.user_id is None and event.metadata["reason"] == "inviter_deleted"
    assert str(team.admin.id) not in str(event.metadata)
    response = _accept(auth_client(guest), token)
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_a_system_role_change_revokes_too(auth_client, team, mailoutbox):
    invitation_id = _invite(auth_client(team.admin), team.space, "guest@example.com")

    membership_ensure_by_system(
        space=team.space,
        user=team.admin,
        role=SpaceRole.MEMBER,
        meta=RequestMeta(),
        reason="catalog",
    )

    assert Invitation.objects.get(id=invitation_id).status == "revoked"


def test_an_inviter_in_good_standing_keeps_their_invitation(
    auth_client, team, user_factory, mailoutbox
):
    guest = user_factory(email="guest@example.com")
    _invite(auth_client(team.admin), team.space, "guest@example.com")
    token = _token(mailoutbox, "guest@example.com")
    # Another member leaving touches nobody else's invitations.
    assert auth_client(team.member).post(f"/api/v1/spaces/{team.space.id}/leave").status_code in (
        200,
        204,
    )

    response = _accept(auth_client(guest), token)

    assert response.status_code == 200
    assert Membership.objects.get(space=team.space, user=guest).role == SpaceRole.MEMBER
