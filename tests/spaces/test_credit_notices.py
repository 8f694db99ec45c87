"""mana-credits follows shared Spaces: ``space.created``, ``space.deleted``,
``space.member_added``, ``space.member_removed`` and ``space.tier_changed`` go through the
outbox (same transaction as the change, posted after commit with the service key, retried by
``flush_outbox``), against a real HTTP server on 127.0.0.1 standing in for mana-credits.

These tests commit for real (``transaction=True``), so the after-commit delivery runs as in
production.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import OutboxMessage
from spaces.models import Membership, Space, SpaceRole
from spaces.services.spaces import membership_ensure_by_system, space_tier_set_by_system
from tests.conftest import PASSWORD
from tests.fake_credits import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)
EVENTS = "/api/v1/internal/events"


def _space_messages() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event__startswith="space.").order_by("created_at"))


def _flush(*args: str) -> str:
    out = io.StringIO()
    call_command("flush_outbox", *args, stdout=out)
    return out.getvalue().strip().splitlines()[0]


def _only_event(fake_credits, event: str) -> dict:
    (body,) = [b for b in fake_credits.events() if b["event"].startswith("space.")]
    assert body["event"] == event
    return body


def test_creating_a_shared_space_is_announced(auth_client, fake_credits, settings):
    client = auth_client()
    fake_credits.received.clear()  # the sign-up's user.created
    response = client.post("/api/v1/spaces", {"name": "Club", "type": "club"}, format="json")
    assert response.status_code == 201, response.content
    space_id = response.json()["id"]
    (message,) = _space_messages()
    assert (message.target, message.event, message.subject) == (
        "credits",
        "space.created",
        f"space:{space_id}",
    )
    assert message.user_id == client.user.pk and message.delivered_at is not None
    (request,) = fake_credits.received
    assert request["path"] == EVENTS
    assert request["headers"]["X-Service-Key"] == settings.MANA_SERVICE_KEY
    assert request["headers"]["Idempotency-Key"] == str(message.id)
    assert request["body"]["id"] == str(message.id)
    assert request["body"]["occurredAt"]
    assert request["body"]["data"] == {
        "spaceId": space_id,
        "ownerId": str(client.user.pk),
        "spaceType": "club",
        "tier": "public",
    }
    assert "Club" not in str(request["body"])  # identifiers, not names


def test_the_personal_space_has_no_pool_of_its_own(auth_client, fake_credits):
    client = auth_client()  # sign-up made the personal Space: announced as user.created only
    assert [b["event"] for b in fake_credits.events()] == ["user.created"]
    client.post("/api/v1/spaces", {"name": "Team", "type": "team"}, format="json")
    (message,) = _space_messages()
    personal = Space.objects.get(created_by=client.user, type="personal")
    assert message.payload["spaceId"] != str(personal.id)


def test_deleting_a_space_is_announced(auth_client, team, fake_credits):
    response = auth_client(team.owner).delete(f"/api/v1/spaces/{team.space.id}")
    assert response.status_code == 204, response.content
    body = _only_event(fake_credits, "space.deleted")
    assert body["data"] == {
        "spaceId": str(team.space.id),
        "userId": str(team.owner.pk),
        "reason": "deleted",
    }
    assert _space_messages()[0].delivered_at is not None


def test_an_accepted_invitation_adds_a_member(
    auth_client, user_factory, team, fake_credits, mailoutbox
):
    from_owner = auth_client(team.owner)
    guest = auth_client(user_factory(email="guest@example.com"))
    fake_credits.received.clear()
    sent = from_owner.post(
        f"/api/v1/spaces/{team.space.id}/invitations",
        {"email": "guest@example.com", "role": "admin"},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    assert not _space_messages()  # an invitation is not a member yet
    token = re.search(r"token=([A-Za-z0-9_\-]+)", mailoutbox[-1].body).group(1)
    accepted = guest.post("/api/v1/invitations/accept", {"token": token}, format="json")
    assert accepted.status_code == 200, accepted.content
    body = _only_event(fake_credits, "space.member_added")
    assert body["data"] == {
        "spaceId": str(team.space.id),
        "userId": str(guest.user.pk),
        "role": "admin",
        "via": "invitation",
    }


def test_removing_a_member_is_announced(auth_client, team, fake_credits):
    response = auth_client(team.admin).delete(
        f"/api/v1/spaces/{team.space.id}/members/{team.member.pk}"
    )
    assert response.status_code == 204, response.content
    body = _only_event(fake_credits, "space.member_removed")
    assert body["data"] == {
        "spaceId": str(team.space.id),
        "userId": str(team.member.pk),
        "role": "member",
        "reason": "removed",
    }
    assert _space_messages()[0].user_id == team.member.pk


@pytest.mark.parametrize("how", ["leave", "remove-self"])
def test_leaving_is_announced(auth_client, team, fake_credits, how):
    client = auth_client(team.admin)
    if how == "leave":
        response = client.post(f"/api/v1/spaces/{team.space.id}/leave")
    else:
        response = client.delete(f"/api/v1/spaces/{team.space.id}/members/{team.admin.pk}")
    assert response.status_code == 204, response.content
    body = _only_event(fake_credits, "space.member_removed")
    assert body["data"] == {
        "spaceId": str(team.space.id),
        "userId": str(team.admin.pk),
        "role": "admin",
        "reason": "left",
    }


def test_a_refused_change_queues_nothing(auth_client, team, fake_credits):
    # the last owner cannot leave: the change is rolled back, and its notice with it
    response = auth_client(team.owner).post(f"/api/v1/spaces/{team.space.id}/leave")
    assert response.status_code == 409
    assert not _space_messages() and not fake_credits.events()
    # the same request by someone who may leave is announced
    response = auth_client(team.member).post(f"/api/v1/spaces/{team.space.id}/leave")
    assert response.status_code == 204
    assert [m.event for m in _space_messages()] == ["space.member_removed"]


def test_a_tier_change_through_the_admin_api_is_announced(
    auth_client, user_factory, team, fake_credits
):
    operator = auth_client(user_factory(role="admin"))
    fake_credits.received.clear()
    response = operator.put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = _only_event(fake_credits, "space.tier_changed")
    assert body["data"] == {
        "spaceId": str(team.space.id),
        "previousTier": "public",
        "tier": "beta",
        "changedBy": str(operator.user.pk),
    }
    # the same tier again changes nothing and tells nothing
    operator.put(f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "beta"}, format="json")
    assert len(_space_messages()) == 1


def test_a_tier_change_in_the_console_is_announced(user_factory, team, fake_credits, settings):
    settings.ADMIN_TOTP_ENFORCED = False
    staff = user_factory(role="admin", is_staff=True, is_superuser=True)
    console = Client()
    console.force_login(staff)
    fake_credits.received.clear()
    response = console.post(
        f"/admin/spaces/space/{team.space.id}/change/",
        {
            "tier": "alpha",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "3",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    body = _only_event(fake_credits, "space.tier_changed")
    assert body["data"]["tier"] == "alpha" and body["data"]["changedBy"] == str(staff.pk)


def test_the_system_adding_a_member_and_setting_the_tier_is_announced(
    user_factory, team, fake_credits
):
    persona = user_factory(kind="persona")
    fake_credits.received.clear()
    membership_ensure_by_system(
        space=team.space, user=persona, role=SpaceRole.MEMBER, meta=None, reason="persona-seed"
    )
    space_tier_set_by_system(space=team.space, tier="founder", meta=None, reason="persona-seed")
    added, tier = [b for b in fake_credits.events()]
    assert added["event"] == "space.member_added"
    assert added["data"] == {
        "spaceId": str(team.space.id),
        "userId": str(persona.pk),
        "role": "member",
        "via": "system",
    }
    assert tier["event"] == "space.tier_changed"
    assert tier["data"]["changedBy"] is None
    # filed under the Space's owner when no operator acted
    assert _space_messages()[1].user_id == team.owner.pk


def test_account_deletion_closes_the_pools_it_takes_and_the_seats_it_leaves(
    auth_client, user_factory, space_factory, fake_credits
):
    client = auth_client()
    user = client.user
    other = user_factory()
    alone = space_factory(user, name="Mine")  # goes with the account
    shared = space_factory(other, name="Theirs", members={user: SpaceRole.ADMIN})  # stays
    fake_credits.received.clear()
    response = client.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert response.status_code == 204, response.content
    events = {
        (b["event"], b["data"]["spaceId"]): b["data"]
        for b in fake_credits.events()
        if b["event"].startswith("space.")
    }
    assert events == {
        ("space.deleted", str(alone.id)): {
            "spaceId": str(alone.id),
            "userId": str(user.pk),
            "reason": "owner_account_deleted",
        },
        ("space.member_removed", str(shared.id)): {
            "spaceId": str(shared.id),
            "userId": str(user.pk),
            "role": "admin",
            "reason": "account_deleted",
        },
    }
    assert "user.deleted" in [b["event"] for b in fake_credits.events()]
    assert not Space.objects.filter(id=alone.id).exists()
    assert Membership.objects.filter(space=shared).count() == 1


def test_nothing_is_queued_while_the_credits_url_is_unset(
    auth_client, team, settings, fake_credits
):
    owner = auth_client(team.owner)
    settings.MANA_CREDITS_URL = ""
    response = owner.delete(f"/api/v1/spaces/{team.space.id}/members/{team.member.pk}")
    assert response.status_code == 204
    assert not _space_messages()
    settings.MANA_CREDITS_URL = fake_credits.url
    response = owner.delete(f"/api/v1/spaces/{team.space.id}/members/{team.admin.pk}")
    assert response.status_code == 204
    assert [m.payload["userId"] for m in _space_messages()] == [str(team.admin.pk)]


def test_credits_down_keeps_the_notice_and_flush_outbox_retries_it(
    auth_client, team, settings, fake_credits
):
    reachable = fake_credits.url
    settings.MANA_CREDITS_URL = closed_port_url()  # connection refused
    response = auth_client(team.admin).post(f"/api/v1/spaces/{team.space.id}/leave")
    assert response.status_code == 204  # the user's change never waits for mana-credits
    (message,) = _space_messages()
    assert message.delivered_at is None and message.attempts == 1
    assert message.last_error.startswith("unreachable")
    assert not Membership.objects.filter(space=team.space, user=team.admin).exists()

    assert _flush("--all") == "delivered=0 failed=1 skipped=0 pending=1 pruned=0"
    message.refresh_from_db()
    assert message.attempts == 2 and message.delivered_at is None

    settings.MANA_CREDITS_URL = reachable  # mana-credits is back
    assert _flush() == "delivered=0 failed=0 skipped=0 pending=1 pruned=0"  # backoff holds
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert _flush() == "delivered=1 failed=0 skipped=0 pending=0 pruned=0"
    message.refresh_from_db()
    assert message.attempts == 3 and message.delivered_at is not None
    (body,) = fake_credits.events()
    assert body["id"] == str(message.id) and body["event"] == "space.member_removed"


def test_a_spaces_notices_arrive_in_order_even_after_a_failure(
    auth_client, user_factory, team, fake_credits
):
    persona = user_factory(kind="persona")
    fake_credits.received.clear()
    fake_credits.post_statuses.append(503)  # the first notice fails
    membership_ensure_by_system(
        space=team.space, user=persona, role=SpaceRole.MEMBER, meta=None, reason="persona-seed"
    )
    response = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/members/{persona.pk}"
    )
    assert response.status_code == 204
    added, removed = _space_messages()
    assert added.last_error == "HTTP 503" and added.delivered_at is None
    # "removed" was not sent while "added" is pending: it would overtake it
    assert removed.attempts == 0 and removed.delivered_at is None
    assert [b["event"] for b in fake_credits.events()] == ["space.member_added"]
    assert _flush("--all") == "delivered=2 failed=0 skipped=0 pending=0 pruned=0"
    assert [b["event"] for b in fake_credits.events()] == [
        "space.member_added",
        "space.member_added",
        "space.member_removed",
    ]


def test_an_address_claim_closes_the_strangers_pools_and_frees_their_seats(
    settings, user_factory, mailoutbox, fake_credits
):
    """The claim takes the stranger's Spaces and seats through the deletion's path: mana-credits
    hears ``space.member_removed`` for each seat in a Space that stays and ``space.deleted`` for
    each shared Space that goes, with ``address_claimed`` as the reason (no account was
    deleted)."""
    from rest_framework.test import APIClient

    from security.models import SecurityEvent
    from tests.accounts.test_claim_wipes import _squat
    from tests.accounts.test_preregistration import VERIFY, last_mail, token_in

    squatter, _, club, _, _ = _squat(settings, user_factory)
    squat = Space.objects.get(created_by=squatter, type="team")
    fake_credits.received.clear()
    before = set(OutboxMessage.objects.values_list("id", flat=True))

    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    claimed = APIClient().post(VERIFY, {"token": token, "withoutPassword": True}, format="json")
    assert claimed.status_code == 200, claimed.content

    rows = {
        (m.event, m.subject): m.payload
        for m in OutboxMessage.objects.filter(target="credits").exclude(id__in=before)
        if m.event.startswith("space.")
    }
    assert rows == {
        ("space.member_removed", f"space:{club.id}"): {
            "spaceId": str(club.id),
            "userId": str(squatter.pk),
            "role": "admin",
            "reason": "address_claimed",
        },
        ("space.deleted", f"space:{squat.id}"): {
            "spaceId": str(squat.id),
            "userId": str(squatter.pk),
            "reason": "address_claimed",
        },
    }
    delivered = {(b["event"], b["data"]["spaceId"]) for b in fake_credits.events()}
    assert {("space.member_removed", str(club.id)), ("space.deleted", str(squat.id))} <= delivered
    assert not Membership.objects.filter(space=club, user=squatter).exists()
    assert Space.objects.filter(id=club.id).exists()
    removed = SecurityEvent.objects.get(user=squatter, type="SPACE_MEMBER_REMOVED")
    assert removed.metadata["spaceId"] == str(club.id)
    assert removed.metadata["reason"] == "address_claimed"
