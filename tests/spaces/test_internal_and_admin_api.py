"""Internal membership check (service key), the admin tier endpoint, the Django admin."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from accounts.models import User
from security.models import SecurityEvent
from spaces.models import Invitation, Space, SpaceCredential

pytestmark = pytest.mark.django_db


# --- Internal membership ----------------------------------------------------------------------


def test_membership_check_reports_role(service_client, team, user_factory):
    url = f"/api/v1/internal/org/{team.space.id}/member/{team.admin.id}"
    response = service_client.get(url)
    assert response.status_code == 200
    assert response.json() == {"isMember": True, "role": "admin"}
    stranger = user_factory()
    response = service_client.get(f"/api/v1/internal/org/{team.space.id}/member/{stranger.id}")
    assert response.json() == {"isMember": False, "role": None}


@pytest.mark.parametrize(
    ("org", "user"), [("not-a-uuid", None), (None, "not-a-uuid"), (str(uuid.uuid4()), None)]
)
def test_membership_check_of_unknown_ids_is_not_a_member(service_client, team, org, user):
    url = f"/api/v1/internal/org/{org or team.space.id}/member/{user or team.owner.id}"
    response = service_client.get(url)
    assert response.status_code == 200
    assert response.json() == {"isMember": False, "role": None}


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_SERVICE_KEY": "guess"}])
def test_membership_check_needs_the_service_key(api_client, team, headers):
    response = api_client.get(
        f"/api/v1/internal/org/{team.space.id}/member/{team.owner.id}", **headers
    )
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_membership_check_refuses_a_user_token(auth_client, team):
    response = auth_client(team.owner).get(
        f"/api/v1/internal/org/{team.space.id}/member/{team.owner.id}"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    assert "isMember" not in response.json()


# --- Admin tier -------------------------------------------------------------------------------


def _admin(user_factory) -> User:
    return user_factory(role="admin")


def test_admin_sets_a_space_tier(auth_client, user_factory, team):
    admin = _admin(user_factory)
    response = auth_client(admin).put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["tier"] == "beta"
    team.space.refresh_from_db()
    assert team.space.tier == "beta"
    event = SecurityEvent.objects.get(type="TIER_CHANGED")
    assert event.user_id == admin.id
    assert event.metadata == {
        "spaceId": str(team.space.id),
        "target": "space",
        "previous": "public",
        "tier": "beta",
    }
    access = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}/access").json()
    assert access["tier"] == "beta"
    assert access["modules"]["presi"] == "write"


def test_setting_the_same_tier_writes_no_event(auth_client, user_factory, team):
    admin = _admin(user_factory)
    response = auth_client(admin).put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "public"}, format="json"
    )
    assert response.status_code == 200
    assert not SecurityEvent.objects.filter(type="TIER_CHANGED").exists()


def test_space_owner_who_is_not_an_admin_cannot_set_the_tier(auth_client, team):
    response = auth_client(team.owner).put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "founder"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    team.space.refresh_from_db()
    assert team.space.tier == "public"


def test_demoted_admin_is_refused_at_once(auth_client, user_factory, team):
    admin = _admin(user_factory)
    client = auth_client(admin)
    User.objects.filter(pk=admin.pk).update(role="user")  # the token still says admin
    response = client.put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "founder"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    team.space.refresh_from_db()
    assert team.space.tier == "public"
    assert not SecurityEvent.objects.filter(type="TIER_CHANGED").exists()


def test_admin_tier_input_and_unknown_space(auth_client, user_factory, team):
    client = auth_client(_admin(user_factory))
    bad = client.put(f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "god"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "VALIDATION_ERROR"
    missing = client.put(
        f"/api/v1/admin/spaces/{uuid.uuid4()}/tier", {"tier": "beta"}, format="json"
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    team.space.refresh_from_db()
    assert team.space.tier == "public"
    assert not SecurityEvent.objects.filter(type="TIER_CHANGED").exists()


def test_admin_tier_needs_sign_in(api_client, team):
    response = api_client.put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    team.space.refresh_from_db()
    assert team.space.tier == "public"


# --- Django admin -----------------------------------------------------------------------------


@pytest.fixture
def staff_client(user_factory, settings) -> Client:
    settings.ADMIN_TOTP_ENFORCED = False
    staff = user_factory(role="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff  # type: ignore[attr-defined]
    return client


def test_admin_pages_never_show_token_hashes_or_credential_values(staff_client, auth_client, team):
    owner = auth_client(team.owner)
    owner.post(
        f"/api/v1/spaces/{team.space.id}/invitations", {"email": "g@example.com"}, format="json"
    )
    owner.post(
        f"/api/v1/spaces/{team.space.id}/credentials",
        {"kind": "api_key", "name": "Key", "value": "sk-super-secret-value"},
        format="json",
    )
    invitation = Invitation.objects.get()
    credential = SpaceCredential.objects.get()
    for url in (
        "/admin/spaces/space/",
        f"/admin/spaces/space/{team.space.id}/change/",
        "/admin/spaces/invitation/",
        f"/admin/spaces/invitation/{invitation.id}/change/",
        "/admin/spaces/spacecredential/",
        f"/admin/spaces/spacecredential/{credential.id}/change/",
        "/admin/spaces/membership/",
    ):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        assert invitation.token_hash not in content
        assert "sk-super-secret-value" not in content
        assert "ciphertext" not in content.lower()
    page = staff_client.get(f"/admin/spaces/space/{team.space.id}/change/").content.decode()
    assert "member@example.com" in page  # members inline


def test_admin_console_tier_change_goes_through_the_service(staff_client, team):
    response = staff_client.post(
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
    assert Space.objects.get(id=team.space.id).tier == "alpha"
    event = SecurityEvent.objects.get(type="TIER_CHANGED")
    assert event.user_id == staff_client.staff.id


def test_admin_console_cannot_delete_spaces_or_memberships(staff_client, team):
    personal = Space.objects.get(created_by=team.owner, type="personal")
    for url in (
        f"/admin/spaces/space/{personal.id}/delete/",
        f"/admin/spaces/space/{team.space.id}/delete/",
    ):
        assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert Space.objects.filter(id__in=[personal.id, team.space.id]).count() == 2
