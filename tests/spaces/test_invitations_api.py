"""Invitations: sending, listing, revoking, accepting (only by the invited, verified address),
declining, expiry and single use."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts import crypto
from accounts.models import User
from accounts.registration import user_register
from mana_auth.clientip import RequestMeta
from security import ratelimit
from security.models import SecurityEvent
from spaces.models import Invitation, Membership
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _invite(client, team, email="guest@example.com", role="member"):
    return client.post(
        f"/api/v1/spaces/{team.space.id}/invitations",
        {"email": email, "role": role},
        format="json",
    )


def _token_from(mail) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", mail.body)
    assert match, mail.body
    return match.group(1)


def _accept(client, token):
    return client.post("/api/v1/invitations/accept", {"token": token}, format="json")


def test_owner_invites_by_email(auth_client, team, mailoutbox):
    mailoutbox.clear()
    response = _invite(auth_client(team.owner), team, email="  Guest@EXAMPLE.com ")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "Guest@example.com"
    assert (body["role"], body["status"]) == ("member", "pending")
    assert "token" not in body and "tokenHash" not in body
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["Guest@example.com"]
    assert "Team Space" in mail.subject
    token = _token_from(mail)
    invitation = Invitation.objects.get(id=body["id"])
    assert invitation.token_hash == crypto.hash_token(token)
    assert token not in invitation.token_hash
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    event = SecurityEvent.objects.get(type="SPACE_INVITATION_SENT")
    assert event.user_id == team.owner.id
    assert event.metadata == {
        "spaceId": str(team.space.id),
        "invitationId": str(invitation.id),
        "role": "member",
    }


def test_invitation_mail_uses_the_invitees_locale(auth_client, team, user_factory, mailoutbox):
    user_factory(email="hans@example.com", locale="de")
    mailoutbox.clear()
    assert _invite(auth_client(team.owner), team, email="hans@example.com").status_code == 201
    assert "Einladung" in mailoutbox[0].subject


def test_member_cannot_invite(auth_client, team, mailoutbox):
    mailoutbox.clear()
    response = _invite(auth_client(team.member), team)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_admin_invites_members_and_admins_but_not_owners(auth_client, team):
    client = auth_client(team.admin)
    assert _invite(client, team, email="a@example.com", role="admin").status_code == 201
    response = _invite(client, team, email="b@example.com", role="owner")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert not Invitation.objects.filter(email="b@example.com").exists()
    assert SecurityEvent.objects.filter(type="SPACE_INVITATION_SENT").count() == 1


def test_inviting_an_existing_member_conflicts(auth_client, team):
    response = _invite(auth_client(team.owner), team, email="MEMBER@example.com")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_personal_space_takes_no_invitations(auth_client):
    client = auth_client()
    personal = client.get("/api/v1/spaces").json()["items"][0]
    response = client.post(
        f"/api/v1/spaces/{personal['id']}/invitations",
        {"email": "friend@example.com"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert not Invitation.objects.exists()


def test_invalid_email_is_a_validation_error(auth_client, team):
    response = _invite(auth_client(team.owner), team, email="not-an-email")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_invitation_creation_is_rate_limited(auth_client, team, settings, monkeypatch):
    monkeypatch.setattr(ratelimit, "INVITE_SPACE", ratelimit.Limit("invite-space", 2, 3600))
    client = auth_client(team.owner)
    assert _invite(client, team, email="one@example.com").status_code == 201
    assert _invite(client, team, email="two@example.com").status_code == 201
    response = _invite(client, team, email="three@example.com")
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0
    assert not Invitation.objects.filter(email="three@example.com").exists()


def test_a_new_invitation_supersedes_the_open_one(auth_client, team, mailoutbox):
    client = auth_client(team.owner)
    mailoutbox.clear()
    _invite(client, team)
    _invite(client, team, email="GUEST@example.com")
    first, second = (_token_from(mail) for mail in mailoutbox)
    guest = auth_client(_make_user("guest@example.com"))
    assert _accept(guest, first).json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert _accept(guest, second).status_code == 200


def _make_user(email: str, verified: bool = True) -> User:
    user, _ = user_register(
        email=email, password=PASSWORD, meta=RequestMeta(), send_verification=False
    )
    if verified:
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
        user.refresh_from_db()
    return user


# --- Listing and revoking ---------------------------------------------------------------------


def test_managers_list_invitations_without_tokens(auth_client, team, mailoutbox):
    mailoutbox.clear()
    _invite(auth_client(team.owner), team)
    token = _token_from(mailoutbox[0])
    response = auth_client(team.admin).get(f"/api/v1/spaces/{team.space.id}/invitations")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    assert body["items"][0]["email"] == "guest@example.com"
    assert body["items"][0]["invitedBy"] == str(team.owner.id)
    content = response.content.decode()
    assert token not in content
    assert Invitation.objects.get().token_hash not in content
    member = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}/invitations")
    assert member.status_code == 403
    assert member.json()["code"] == "FORBIDDEN"
    assert "items" not in member.json()


def test_revoked_invitation_cannot_be_accepted(auth_client, team, mailoutbox):
    mailoutbox.clear()
    invitation_id = _invite(auth_client(team.owner), team).json()["id"]
    token = _token_from(mailoutbox[0])
    response = auth_client(team.admin).delete(
        f"/api/v1/spaces/{team.space.id}/invitations/{invitation_id}"
    )
    assert response.status_code == 204
    assert SecurityEvent.objects.filter(type="SPACE_INVITATION_REVOKED").count() == 1
    guest = auth_client(_make_user("guest@example.com"))
    accepted = _accept(guest, token)
    assert accepted.status_code == 400
    assert accepted.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not Membership.objects.filter(space=team.space, user=guest.user).exists()
    again = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/invitations/{invitation_id}"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "CONFLICT"
    assert SecurityEvent.objects.filter(type="SPACE_INVITATION_REVOKED").count() == 1


def test_member_cannot_revoke(auth_client, team):
    invitation_id = _invite(auth_client(team.owner), team).json()["id"]
    response = auth_client(team.member).delete(
        f"/api/v1/spaces/{team.space.id}/invitations/{invitation_id}"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert Invitation.objects.get(id=invitation_id).revoked_at is None
    assert not SecurityEvent.objects.filter(type="SPACE_INVITATION_REVOKED").exists()


def test_admin_cannot_revoke_an_owner_invitation(auth_client, team):
    invitation_id = _invite(auth_client(team.owner), team, role="owner").json()["id"]
    response = auth_client(team.admin).delete(
        f"/api/v1/spaces/{team.space.id}/invitations/{invitation_id}"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert Invitation.objects.get(id=invitation_id).revoked_at is None
    assert not SecurityEvent.objects.filter(type="SPACE_INVITATION_REVOKED").exists()


def test_revoking_an_invitation_of_another_space_is_404(auth_client, team, space_factory):
    other = space_factory(name="Other")
    invitation_id = _invite(auth_client(other.created_by), SimpleNamespace(space=other)).json()[
        "id"
    ]
    response = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/invitations/{invitation_id}"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert Invitation.objects.get(id=invitation_id).revoked_at is None


# --- Accepting --------------------------------------------------------------------------------


def test_invited_user_accepts_and_joins_with_the_role(auth_client, team, mailoutbox):
    guest = auth_client(_make_user("guest@example.com"))
    mailoutbox.clear()
    _invite(auth_client(team.owner), team, email="GUEST@example.com", role="admin")
    token = _token_from(mailoutbox[0])
    response = _accept(guest, token)
    assert response.status_code == 200, response.content
    space = response.json()["space"]
    assert (space["id"], space["role"]) == (str(team.space.id), "admin")
    assert Membership.objects.get(space=team.space, user=guest.user).role == "admin"
    invitation = Invitation.objects.get()
    assert invitation.accepted_by_id == guest.user.id
    assert invitation.status == "accepted"
    event = SecurityEvent.objects.get(type="SPACE_INVITATION_ACCEPTED")
    assert event.user_id == guest.user.id
    assert event.metadata["joined"] is True


def test_accepting_twice_creates_one_membership(auth_client, team, mailoutbox):
    guest = auth_client(_make_user("guest@example.com"))
    mailoutbox.clear()
    _invite(auth_client(team.owner), team)
    token = _token_from(mailoutbox[0])
    assert _accept(guest, token).status_code == 200
    second = _accept(guest, token)
    assert second.status_code == 400
    assert second.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert Membership.objects.filter(space=team.space, user=guest.user).count() == 1
    assert SecurityEvent.objects.filter(type="SPACE_INVITATION_ACCEPTED").count() == 1


def test_a_second_invitation_for_a_member_adds_no_membership(auth_client, team):
    guest_user = _make_user("guest@example.com")
    guest = auth_client(guest_user)
    # Two invitations issued before either is accepted (e.g. by two admins).
    tokens = []
    for _ in range(2):
        token = crypto.make_opaque_token("inv_")
        Invitation.objects.create(
            space=team.space,
            email="guest@example.com",
            role="member",
            token_hash=crypto.hash_token(token),
            invited_by=team.owner,
            expires_at=timezone.now() + timedelta(days=1),
        )
        tokens.append(token)
    assert _accept(guest, tokens[0]).status_code == 200
    assert _accept(guest, tokens[1]).status_code == 200
    assert Membership.objects.filter(space=team.space, user=guest_user).count() == 1


def test_forwarded_invitation_does_nothing(auth_client, team, mailoutbox):
    mailoutbox.clear()
    _invite(auth_client(team.owner), team, email="guest@example.com")
    token = _token_from(mailoutbox[0])
    eve = auth_client(_make_user("eve@example.com"))
    response = _accept(eve, token)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert "guest@example.com" not in response.content.decode()
    assert not Membership.objects.filter(space=team.space, user=eve.user).exists()
    assert Invitation.objects.get().status == "pending"
    declined = eve.post("/api/v1/invitations/decline", {"token": token}, format="json")
    assert declined.status_code == 403
    assert declined.json()["code"] == "FORBIDDEN"
    assert Invitation.objects.get().status == "pending"
    # The rightful invitee can still use it.
    guest = auth_client(_make_user("guest@example.com"))
    assert _accept(guest, token).status_code == 200


def test_unverified_address_cannot_accept(auth_client, team, mailoutbox, settings):
    settings.REQUIRE_EMAIL_VERIFICATION = False  # so the unverified user can sign in at all
    guest_user = _make_user("guest@example.com", verified=False)
    guest = auth_client(guest_user)
    mailoutbox.clear()
    _invite(auth_client(team.owner), team)
    token = _token_from(mailoutbox[0])
    response = _accept(guest, token)
    assert response.status_code == 403
    assert response.json()["code"] == "EMAIL_NOT_VERIFIED"
    assert not Membership.objects.filter(space=team.space, user=guest_user).exists()
    assert Invitation.objects.get().status == "pending"


def test_expired_invitation_is_invalid(auth_client, team, mailoutbox):
    guest = auth_client(_make_user("guest@example.com"))
    mailoutbox.clear()
    _invite(auth_client(team.owner), team)
    token = _token_from(mailoutbox[0])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _accept(guest, token)
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not Membership.objects.filter(space=team.space, user=guest.user).exists()
    listed = auth_client(team.owner).get(f"/api/v1/spaces/{team.space.id}/invitations").json()
    assert listed["items"][0]["status"] == "expired"


@pytest.mark.parametrize("token", ["", "inv_unknown", "x" * 300])
def test_unknown_token_is_invalid(auth_client, token):
    response = _accept(auth_client(), token)
    assert response.status_code == 400
    assert response.json()["code"] in ("VERIFICATION_TOKEN_INVALID", "VALIDATION_ERROR")


def test_accept_requires_sign_in(api_client):
    response = _accept(api_client, "inv_whatever")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_invitee_without_account_signs_up_then_accepts(api_client, auth_client, team, mailoutbox):
    mailoutbox.clear()
    _invite(auth_client(team.owner), team, email="newcomer@example.com")
    invitation_token = _token_from(mailoutbox[0])
    mailoutbox.clear()
    registered = api_client.post(
        "/api/v1/auth/register",
        {"email": "newcomer@example.com", "password": PASSWORD},
        format="json",
    )
    assert registered.status_code == 201
    verify_token = _token_from(mailoutbox[0])
    assert (
        api_client.post(
            "/api/v1/auth/verify-email", {"token": verify_token}, format="json"
        ).status_code
        == 200
    )
    newcomer = auth_client(User.objects.get_by_email("newcomer@example.com"))
    response = _accept(newcomer, invitation_token)
    assert response.status_code == 200
    assert Membership.objects.get(space=team.space, user=newcomer.user).role == "member"
    spaces = newcomer.get("/api/v1/spaces").json()
    assert [item["type"] for item in spaces["items"]] == ["personal", "team"]


def test_invitee_declines(auth_client, team, mailoutbox):
    guest = auth_client(_make_user("guest@example.com"))
    mailoutbox.clear()
    _invite(auth_client(team.owner), team)
    token = _token_from(mailoutbox[0])
    response = guest.post("/api/v1/invitations/decline", {"token": token}, format="json")
    assert response.status_code == 204
    assert Invitation.objects.get().status == "declined"
    assert SecurityEvent.objects.filter(type="SPACE_INVITATION_DECLINED").count() == 1
    assert _accept(guest, token).json()["code"] == "VERIFICATION_TOKEN_INVALID"
