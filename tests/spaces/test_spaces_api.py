"""Spaces: types, create, list, read, update, delete, access levels, module overrides."""

from __future__ import annotations

import uuid

import pytest

from security.models import SecurityEvent
from spaces import modules
from spaces.models import Membership, ModulePermission, Space, SpaceRole

pytestmark = pytest.mark.django_db


def _events(type: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(type=type))


# --- Types ------------------------------------------------------------------------------------


def test_types_are_public_with_their_allowed_modules(api_client):
    response = api_client.get("/api/v1/spaces/types")
    assert response.status_code == 200
    body = response.json()
    types = {item["type"]: item for item in body["types"]}
    assert list(types) == ["personal", "brand", "club", "family", "team", "practice"]
    assert types["personal"]["userCreatable"] is False
    assert types["personal"]["modules"] == list(modules.MODULE_IDS)
    assert "mood" not in types["family"]["modules"]
    assert "recipes" in types["family"]["modules"]
    assert body["tiers"] == ["guest", "public", "beta", "alpha", "founder"]
    assert {m["id"] for m in body["modules"]} == set(modules.MODULE_IDS)


# --- Create -----------------------------------------------------------------------------------


def test_create_space_makes_the_caller_owner(auth_client):
    client = auth_client()
    response = client.post("/api/v1/spaces", {"name": "Garden Club", "type": "club"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "garden-club"
    assert body["type"] == "club"
    assert body["role"] == "owner"
    assert body["tier"] == "public"
    space = Space.objects.get(id=body["id"])
    assert Membership.objects.get(space=space, user=client.user).role == SpaceRole.OWNER
    event = SecurityEvent.objects.get(type="SPACE_CREATED")
    assert event.user_id == client.user.id
    assert event.metadata == {"spaceId": str(space.id), "spaceType": "club"}


@pytest.mark.parametrize("space_type", ["galaxy", "", "Personal", "personal"])
def test_create_space_refuses_invalid_or_personal_type(auth_client, space_type):
    client = auth_client()
    response = client.post("/api/v1/spaces", {"name": "X", "type": space_type}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in (
        ("INVALID_SPACE_TYPE",) if space_type else ("VALIDATION_ERROR",)
    )
    assert Space.objects.filter(created_by=client.user).count() == 1  # the personal one


def test_create_space_with_taken_slug_conflicts(auth_client):
    client = auth_client()
    first = client.post(
        "/api/v1/spaces", {"name": "A", "type": "team", "slug": "acme"}, format="json"
    )
    assert first.status_code == 201
    second = client.post(
        "/api/v1/spaces", {"name": "B", "type": "team", "slug": "acme"}, format="json"
    )
    assert second.status_code == 409
    assert second.json()["code"] == "CONFLICT"


@pytest.mark.parametrize("slug", ["admin", "Upper", "-dash", "a b", "x" * 64])
def test_create_space_refuses_reserved_or_malformed_slug(auth_client, slug):
    client = auth_client()
    response = client.post(
        "/api/v1/spaces", {"name": "A", "type": "team", "slug": slug}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "slug" in response.json()["details"]["fields"]


def test_create_space_requires_authentication(api_client):
    response = api_client.post("/api/v1/spaces", {"name": "A", "type": "team"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_shared_space_tier_never_exceeds_public_for_a_founder(user_factory, auth_client):
    founder = user_factory(access_tier="founder")
    client = auth_client(founder)
    response = client.post("/api/v1/spaces", {"name": "F", "type": "team"}, format="json")
    assert response.json()["tier"] == "public"


# --- List and read ----------------------------------------------------------------------------


def test_list_shows_my_spaces_with_role_and_tier_personal_first(auth_client, team):
    client = auth_client(team.member)
    response = client.get("/api/v1/spaces")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert body["page"] == 1 and body["limit"] == 20
    personal, shared = body["items"]
    assert (personal["type"], personal["role"], personal["slug"]) == ("personal", "owner", "member")
    assert (shared["id"], shared["role"], shared["tier"]) == (
        str(team.space.id),
        "member",
        "public",
    )


def test_list_is_paginated(auth_client, space_factory):
    client = auth_client()
    for index in range(3):
        space_factory(client.user, name=f"S{index}")
    response = client.get("/api/v1/spaces?page=2&limit=2")
    body = response.json()
    assert body["total"] == 4
    assert len(body["items"]) == 2
    assert client.get("/api/v1/spaces?limit=101").json()["code"] == "VALIDATION_ERROR"


def test_member_reads_a_space(auth_client, team):
    response = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}")
    assert response.status_code == 200
    assert response.json()["role"] == "member"
    assert response.json()["name"] == "Team Space"


@pytest.mark.parametrize(
    "suffix",
    ["", "/access", "/members", "/invitations", "/module-permissions", "/credentials"],
)
def test_non_member_gets_404_for_every_space_read(auth_client, team, suffix):
    outsider = auth_client()
    response = outsider.get(f"/api/v1/spaces/{team.space.id}{suffix}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert "Team Space" not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"name": "Hijacked"}),
        ("delete", "", None),
        ("post", "/leave", None),
        ("post", "/invitations", {"email": "x@example.com"}),
        ("put", "/module-permissions", {"overrides": []}),
        ("post", "/credentials", {"kind": "api_key", "name": "n", "value": "v"}),
    ],
)
def test_non_member_gets_404_for_every_space_write(auth_client, team, method, suffix, body):
    outsider = auth_client()
    response = getattr(outsider, method)(
        f"/api/v1/spaces/{team.space.id}{suffix}", body, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    team.space.refresh_from_db()
    assert team.space.name == "Team Space"


def test_someone_elses_personal_space_is_404(auth_client, user_factory):
    victim = user_factory()
    personal = Space.objects.get(created_by=victim, type="personal")
    response = auth_client().get(f"/api/v1/spaces/{personal.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert "Personal" not in response.content.decode()


@pytest.mark.parametrize("space_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_space_is_404(auth_client, space_id):
    response = auth_client().get(f"/api/v1/spaces/{space_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert response.json()["code"] == "NOT_FOUND"


# --- Update -----------------------------------------------------------------------------------


def test_owner_renames_and_reslugs(auth_client, team):
    response = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}",
        {"name": "Renamed", "slug": "renamed", "metadata": {"color": "teal"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    team.space.refresh_from_db()
    assert (team.space.name, team.space.slug) == ("Renamed", "renamed")
    assert team.space.metadata == {"color": "teal"}
    event = SecurityEvent.objects.get(type="SPACE_UPDATED")
    assert event.metadata["fields"] == ["name", "slug", "metadata"]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_the_owner_updates_space_settings(auth_client, team, role):
    response = auth_client(getattr(team, role)).patch(
        f"/api/v1/spaces/{team.space.id}", {"name": "Mine now"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    team.space.refresh_from_db()
    assert team.space.name == "Team Space"


def test_type_cannot_change(auth_client, team):
    response = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}", {"type": "club"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    team.space.refresh_from_db()
    assert team.space.type == "team"


def test_update_to_taken_slug_conflicts(auth_client, team, space_factory):
    space_factory(team.owner, name="Other")
    response = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}", {"slug": "other"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_update_refuses_oversized_metadata(auth_client, team):
    response = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}", {"metadata": {"blob": "x" * 20000}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"]["fields"] == {"metadata": ["Too large."]}
    team.space.refresh_from_db()
    assert team.space.metadata == {}
    assert not SecurityEvent.objects.filter(type="SPACE_UPDATED").exists()


# --- Delete -----------------------------------------------------------------------------------


def test_personal_space_is_undeletable(auth_client):
    client = auth_client()
    personal = Space.objects.get(created_by=client.user, type="personal")
    response = client.delete(f"/api/v1/spaces/{personal.id}")
    assert response.status_code == 409
    assert response.json()["code"] == "PERSONAL_SPACE_UNDELETABLE"
    assert Space.objects.filter(id=personal.id).exists()


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_the_owner_deletes_a_space(auth_client, team, role):
    response = auth_client(getattr(team, role)).delete(f"/api/v1/spaces/{team.space.id}")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert Space.objects.filter(id=team.space.id).exists()
    assert not SecurityEvent.objects.filter(type="SPACE_DELETED").exists()


def test_owner_deletes_a_shared_space(auth_client, team):
    response = auth_client(team.owner).delete(f"/api/v1/spaces/{team.space.id}")
    assert response.status_code == 204
    assert not Space.objects.filter(id=team.space.id).exists()
    assert not Membership.objects.filter(space_id=team.space.id).exists()
    event = SecurityEvent.objects.get(type="SPACE_DELETED")
    assert event.metadata == {"spaceId": str(team.space.id), "spaceType": "team"}


# --- Access -----------------------------------------------------------------------------------


def test_access_reports_role_tier_and_levels(auth_client, team):
    response = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}/access")
    assert response.status_code == 200
    body = response.json()
    assert (body["role"], body["tier"], body["type"]) == ("member", "public", "team")
    assert body["modules"]["calendar"] == "write"
    assert body["modules"]["mood"] == "none"  # not allowed in a team Space
    assert body["modules"]["presi"] == "none"  # allowed, but needs tier beta
    assert set(body["modules"]) == set(modules.MODULE_IDS)
    owner = auth_client(team.owner).get(f"/api/v1/spaces/{team.space.id}/access").json()
    assert owner["modules"]["calendar"] == "admin"


def test_access_follows_the_space_tier(auth_client, team):
    Space.objects.filter(id=team.space.id).update(tier="founder")
    body = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}/access").json()
    assert body["tier"] == "founder"
    assert body["modules"]["presi"] == "write"
    assert body["modules"]["ai-agents"] == "write"
    assert body["modules"]["mood"] == "none"


def test_personal_space_allows_every_module_the_tier_opens(auth_client):
    client = auth_client()
    personal = Space.objects.get(created_by=client.user, type="personal")
    body = client.get(f"/api/v1/spaces/{personal.id}/access").json()
    assert body["modules"]["mood"] == "none"  # beta module, public tier
    assert body["modules"]["todo"] == "admin"
    Space.objects.filter(id=personal.id).update(tier="beta")
    body = client.get(f"/api/v1/spaces/{personal.id}/access").json()
    assert body["modules"]["mood"] == "admin"


def test_overrides_narrow_but_never_widen(auth_client, team):
    ModulePermission.objects.create(
        space=team.space, role="member", module="calendar", level="read"
    )
    ModulePermission.objects.create(space=team.space, role="member", module="notes", level="admin")
    body = auth_client(team.member).get(f"/api/v1/spaces/{team.space.id}/access").json()
    assert body["modules"]["calendar"] == "read"
    assert body["modules"]["notes"] == "write"


# --- Module permissions -----------------------------------------------------------------------


def test_owner_replaces_module_overrides(auth_client, team):
    client = auth_client(team.owner)
    url = f"/api/v1/spaces/{team.space.id}/module-permissions"
    response = client.put(
        url,
        {
            "overrides": [
                {"role": "member", "module": "calendar", "level": "read"},
                {"role": "admin", "module": "invoices", "level": "none"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["roleDefaults"] == {"owner": "admin", "admin": "admin", "member": "write"}
    assert {(o["role"], o["module"], o["level"]) for o in body["overrides"]} == {
        ("member", "calendar", "read"),
        ("admin", "invoices", "none"),
    }
    assert "mood" not in body["allowedModules"]
    replaced = client.put(url, {"overrides": []}, format="json")
    assert replaced.json()["overrides"] == []
    assert not ModulePermission.objects.filter(space=team.space).exists()
    assert len(_events("SPACE_MODULE_PERMISSIONS_CHANGED")) == 2
    readable = auth_client(team.member).get(url)
    assert readable.status_code == 200


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_the_owner_sets_module_overrides(auth_client, team, role):
    response = auth_client(getattr(team, role)).put(
        f"/api/v1/spaces/{team.space.id}/module-permissions",
        {"overrides": [{"role": "member", "module": "calendar", "level": "admin"}]},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert not ModulePermission.objects.exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"role": "member", "module": "nope", "level": "read"}, "overrides.0.module"),
        ({"role": "member", "module": "mood", "level": "read"}, "overrides.0.module"),
        ({"role": "owner", "module": "calendar", "level": "read"}, "overrides.0.role"),
    ],
)
def test_module_overrides_are_validated(auth_client, team, override, field):
    response = auth_client(team.owner).put(
        f"/api/v1/spaces/{team.space.id}/module-permissions",
        {"overrides": [override]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]["fields"]


def test_module_overrides_refuse_bad_level_and_duplicates(auth_client, team):
    url = f"/api/v1/spaces/{team.space.id}/module-permissions"
    client = auth_client(team.owner)
    bad_level = client.put(
        url, {"overrides": [{"role": "member", "module": "notes", "level": "god"}]}, format="json"
    )
    assert bad_level.status_code == 400
    assert bad_level.json()["code"] == "VALIDATION_ERROR"
    duplicate = client.put(
        url,
        {
            "overrides": [
                {"role": "member", "module": "notes", "level": "read"},
                {"role": "member", "module": "notes", "level": "none"},
            ]
        },
        format="json",
    )
    assert duplicate.status_code == 400
    assert "overrides.1" in duplicate.json()["details"]["fields"]
    assert duplicate.json()["code"] == "VALIDATION_ERROR"
    assert not ModulePermission.objects.filter(space=team.space).exists()
    assert not SecurityEvent.objects.filter(type="SPACE_MODULE_PERMISSIONS_CHANGED").exists()


def test_unauthenticated_calls_are_401(api_client, team):
    for url in (f"/api/v1/spaces/{team.space.id}", "/api/v1/spaces"):
        response = api_client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "TOKEN_INVALID"


def test_tier_order_matches_the_accounts_tiers():
    from accounts.models import Tier

    assert list(modules.TIERS) == list(Tier.values)
    assert modules.tier_meets("founder", "beta")
    assert modules.tier_meets("beta", "beta")
    assert not modules.tier_meets("public", "beta")
    assert not modules.tier_meets(None, "public")
    assert not modules.tier_meets("bogus", "public")
    assert modules.tier_meets("bogus", "guest")
    with pytest.raises(ValueError):
        modules.tier_meets("founder", "bogus")


def test_every_allowlisted_module_is_registered():
    for space_type in modules.SPACE_TYPES:
        assert set(modules.modules_for_type(space_type)) <= set(modules.MODULE_IDS)
    for intimate in ("mood", "dreams", "sleep", "period", "body", "journal"):
        for space_type in modules.SHARED_SPACE_TYPES:
            assert not modules.is_module_allowed(intimate, space_type)


@pytest.mark.django_db(transaction=True)
def test_space_access_costs_one_query(auth_client, django_assert_max_num_queries):
    """The session's liveness and the access in one statement (spaces/access.py)."""
    client = auth_client()
    space_id = client.get("/api/v1/spaces").json()["items"][0]["id"]
    client.get(f"/api/v1/spaces/{space_id}/access")  # warm
    with django_assert_max_num_queries(1):
        response = client.get(f"/api/v1/spaces/{space_id}/access")
    assert response.status_code == 200 and response.json()["role"] == "owner"
