"""The export shows only what the user may still see (issue 15, point 8): a Space they created
and were removed from (or left) appears as its id alone, and invitations they sent there keep
what they did but not the Space's name or what became of the invitation."""

from __future__ import annotations

import json

import pytest

from spaces.models import Invitation

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/me/data/export"
SECRET_NAME = "Project Nightjar"
SECRET_METADATA = {"plan": "acquire-competitor", "budget": 4200000}


def _space(client, name, type="team"):
    response = client.post("/api/v1/spaces", {"name": name, "type": type}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_space_created_then_left_is_exported_as_its_id_only(
    auth_client, user_factory, mailoutbox
):
    creator = auth_client(user_factory(email="creator@example.com"))
    heir = auth_client(user_factory(email="heir@example.com"))
    guest = user_factory(email="guest@example.com")
    space_id = _space(creator, "Early name")
    # The creator invites the heir (owner) and a guest, then hands over and is removed.
    url = f"/api/v1/spaces/{space_id}/invitations"
    assert (
        creator.post(url, {"email": heir.user.email, "role": "owner"}, format="json").status_code
        == 201
    )
    token = mailoutbox[-1].body.split("token=")[1].split()[0]
    assert (
        heir.post("/api/v1/invitations/accept", {"token": token}, format="json").status_code == 200
    )
    assert creator.post(url, {"email": guest.email}, format="json").status_code == 201
    removed = heir.delete(f"/api/v1/spaces/{space_id}/members/{creator.user.id}")
    assert removed.status_code == 204
    # What the remaining members do afterwards is theirs.
    renamed = heir.patch(
        f"/api/v1/spaces/{space_id}",
        {"name": SECRET_NAME, "metadata": SECRET_METADATA},
        format="json",
    )
    assert renamed.status_code == 200

    response = creator.get(EXPORT)

    assert response.status_code == 200
    text = response.content.decode()
    document = json.loads(text)
    assert SECRET_NAME not in text and "acquire-competitor" not in text
    assert "Early name" not in text
    (item,) = [s for s in document["spaces"] if s["spaceId"] == space_id]
    assert set(item) == {"spaceId", "createdByYou", "yourRole", "note"}
    assert item["createdByYou"] is True and item["yourRole"] is None
    # The invitations they sent there: what they did, not where it led.
    sent = {inv["invitedEmail"]: inv for inv in document["invitations"]["sentByYou"]}
    accepted = sent[heir.user.email]
    assert "spaceName" not in accepted
    assert "status" not in accepted and "acceptedByUserId" not in accepted
    assert accepted["role"] == "owner" and accepted["spaceId"] == space_id
    assert document["coverage"]["spaces.Space"]["records"] >= 2  # personal + the left one
    assert Invitation.objects.filter(space_id=space_id, invited_by=creator.user).count() == 2


def test_a_space_still_joined_keeps_its_full_record(auth_client, user_factory):
    owner = auth_client(user_factory(email="owner@example.com"))
    space_id = _space(owner, "Still mine")

    document = owner.get(EXPORT).json()

    (item,) = [s for s in document["spaces"] if s["spaceId"] == space_id]
    assert item["name"] == "Still mine" and item["yourRole"] == "owner"
    assert "members" in item and "invitations" in item
