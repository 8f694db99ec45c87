"""TIER_INSUFFICIENT (issue 19, item 10): raised wherever a Space's tier gates something — the
internal membership check with a required tier or a module, and opening a module of a Space
(``GET spaces/{id}/access?module=``). 403 with the contract's envelope; ``details`` say which
tier was needed and which the Space has."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from spaces.models import ModulePermission, Space

pytestmark = pytest.mark.django_db


def member_url(team, user, **query) -> str:
    url = f"/api/v1/internal/org/{team.space.id}/member/{user.id}"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def insufficient(response, **details):
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "TIER_INSUFFICIENT"
    assert body["details"] == details
    assert body["message"]
    return True


# --- The internal membership check ------------------------------------------------------------


def test_a_required_tier_above_the_spaces_is_refused(service_client, team):
    response = service_client.get(member_url(team, team.member, requiredTier="beta"))
    assert insufficient(response, requiredTier="beta", tier="public")


def test_a_required_tier_the_space_has_answers_as_before(service_client, team):
    for tier in ("guest", "public"):
        response = service_client.get(member_url(team, team.member, requiredTier=tier))
        assert response.status_code == 200
        assert response.json() == {"isMember": True, "role": "member"}
    Space.objects.filter(id=team.space.id).update(tier="beta")
    response = service_client.get(member_url(team, team.member, requiredTier="beta"))
    assert response.json() == {"isMember": True, "role": "member"}


def test_a_module_above_the_spaces_tier_is_refused(service_client, team):
    response = service_client.get(member_url(team, team.admin, module="presi"))
    assert insufficient(response, requiredTier="beta", tier="public", module="presi")
    Space.objects.filter(id=team.space.id).update(tier="alpha")
    response = service_client.get(member_url(team, team.admin, module="presi"))
    assert response.json() == {"isMember": True, "role": "admin", "moduleLevel": "admin"}


def test_a_module_the_tier_opens_answers_with_the_members_level(service_client, team):
    response = service_client.get(member_url(team, team.member, module="notes"))
    assert response.json() == {"isMember": True, "role": "member", "moduleLevel": "write"}
    ModulePermission.objects.create(space=team.space, role="member", module="notes", level="read")
    response = service_client.get(member_url(team, team.member, module="notes"))
    assert response.json() == {"isMember": True, "role": "member", "moduleLevel": "read"}


def test_a_module_the_spaces_type_does_not_offer_is_no_tier_question(service_client, team):
    # mood (a beta module) is never offered to a team: level none, whatever the tier.
    response = service_client.get(member_url(team, team.member, module="mood"))
    assert response.status_code == 200
    assert response.json() == {"isMember": True, "role": "member", "moduleLevel": "none"}


def test_a_non_member_learns_nothing_about_the_spaces_tier(service_client, team, user_factory):
    stranger = user_factory()
    response = service_client.get(
        member_url(team, stranger, requiredTier="founder", module="presi")
    )
    assert response.status_code == 200
    assert response.json() == {"isMember": False, "role": None}


@pytest.mark.parametrize(("name", "value"), [("requiredTier", "platinum"), ("module", "nope")])
def test_an_unknown_tier_or_module_is_a_validation_error(service_client, team, name, value):
    response = service_client.get(member_url(team, team.member, **{name: value}))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and list(body["details"]["fields"]) == [name]


# --- Opening a module of a Space --------------------------------------------------------------


def access(client, team, module=None):
    url = f"/api/v1/spaces/{team.space.id}/access"
    return client.get(url, {"module": module} if module else {})


def test_opening_a_module_above_the_spaces_tier_is_refused(auth_client, team):
    client = auth_client(team.member)
    assert insufficient(
        access(client, team, "ai-agents"), requiredTier="alpha", tier="public", module="ai-agents"
    )
    Space.objects.filter(id=team.space.id).update(tier="alpha")
    opened = access(client, team, "ai-agents")
    assert opened.status_code == 200 and opened.json()["modules"]["ai-agents"] == "write"


def test_opening_a_module_the_tier_opens_answers_the_access_document(auth_client, team):
    client = auth_client(team.member)
    plain = access(client, team)
    assert plain.status_code == 200
    for module in ("notes", "mood"):  # opened by the tier / not offered to a team at all
        response = access(client, team, module)
        assert response.status_code == 200 and response.json() == plain.json()


def test_opening_a_module_of_someone_elses_space_is_not_found(auth_client, team, user_factory):
    response = access(auth_client(user_factory()), team, "presi")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_opening_an_unknown_module_is_a_validation_error(auth_client, team):
    response = access(auth_client(team.member), team, "nope")
    assert response.status_code == 400
    assert response.json()["details"]["fields"] == {"module": ['"nope" is not a valid choice.']}


def test_the_schema_documents_the_gates():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    internal = schema["paths"]["/api/v1/internal/org/{org_id}/member/{user_id}"]["get"]
    query = {p["name"]: p for p in internal["parameters"] if p["in"] == "query"}
    assert query["requiredTier"]["schema"]["enum"] == [
        "guest",
        "public",
        "beta",
        "alpha",
        "founder",
    ]
    assert "presi" in query["module"]["schema"]["enum"]
    assert not query["requiredTier"].get("required") and not query["module"].get("required")
    access = schema["paths"]["/api/v1/spaces/{space_id}/access"]["get"]
    assert [p["name"] for p in access["parameters"] if p["in"] == "query"] == ["module"]
    output = schema["components"]["schemas"]["InternalMembershipOutput"]
    assert "moduleLevel" in output["properties"] and "moduleLevel" not in output["required"]


def test_a_dead_session_is_refused_before_the_query_is_read(auth_client, team):
    """As under DRF, authentication comes first: a malformed ``?module=`` with no token, or
    with a revoked session's, is 401, not 400."""
    from rest_framework.test import APIClient

    url = f"/api/v1/spaces/{team.space.id}/access"
    anonymous = APIClient().get(url, {"module": "nope"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "TOKEN_INVALID"
    client = auth_client(team.member)
    assert client.post("/api/v1/auth/logout").status_code == 204
    revoked = client.get(url, {"module": "nope"})
    assert revoked.status_code == 401 and revoked.json()["code"] == "SESSION_REVOKED"
