"""``GET /spaces/{id}/access`` with Redis: cached (no SQL on a hit), and every membership, role,
tier or module-override change, and every revoked session, is seen on the next request.

Transactional tests: the Space's version is replaced once more after the writing transaction
commits, which only a real commit runs (spaces/access.py).
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from spaces import access as space_access
from spaces.models import Space
from tests.conftest import login_tokens, store_select

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_store(settings):
    store_select(settings, "redis")
    yield
    store_select(settings, "postgres")


def _access(client, team):
    return client.get(f"/api/v1/spaces/{team.space.id}/access")


def test_a_cache_hit_costs_no_sql(redis_store, auth_client, team, django_assert_num_queries):
    member = auth_client(team.member)
    _access(member, team)  # the first reader creates the Space's version
    _access(member, team)  # the second fills the cache under it
    with django_assert_num_queries(0):
        response = _access(member, team)
    assert response.status_code == 200 and response.json()["role"] == "member"


def test_without_redis_every_answer_is_one_statement(
    auth_client, team, settings, django_assert_num_queries
):
    store_select(settings, "postgres")
    member = auth_client(team.member)
    for _ in range(3):
        with django_assert_num_queries(1):
            assert _access(member, team).json()["role"] == "member"


def _warm(client, team):
    for _ in range(3):
        body = _access(client, team).json()
    return body


def test_a_role_change_is_seen_at_once(redis_store, auth_client, team):
    member = auth_client(team.member)
    assert _warm(member, team)["role"] == "member"
    response = auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}/members/{team.member.id}", {"role": "admin"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert _access(member, team).json()["role"] == "admin"


def test_a_removed_member_and_one_who_left_lose_access_at_once(redis_store, auth_client, team):
    member, admin = auth_client(team.member), auth_client(team.admin)
    _warm(member, team), _warm(admin, team)
    removed = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/members/{team.member.id}"
    )
    assert removed.status_code == 204, removed.content
    assert _access(member, team).json()["code"] == "NOT_FOUND"
    assert admin.post(f"/api/v1/spaces/{team.space.id}/leave").status_code == 204
    assert _access(admin, team).json()["code"] == "NOT_FOUND"


def test_a_tier_change_is_seen_at_once(redis_store, auth_client, user_factory, team):
    member = auth_client(team.member)
    assert _warm(member, team)["modules"]["presi"] == "none"
    operator = auth_client(user_factory(role="admin"))
    response = operator.put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = _access(member, team).json()
    assert (body["tier"], body["modules"]["presi"]) == ("beta", "write")


def test_a_users_tier_change_reaches_their_personal_space(redis_store, auth_client, user_factory):
    client = auth_client()
    personal = Space.objects.get(created_by=client.user, type="personal")
    url = f"/api/v1/spaces/{personal.id}/access"
    for _ in range(3):
        assert client.get(url).json()["modules"]["mood"] == "none"
    operator = auth_client(user_factory(role="admin"))
    response = operator.put(
        f"/api/v1/admin/users/{client.user.id}/tier", {"tier": "beta"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert client.get(url).json()["modules"]["mood"] == "admin"


def test_module_overrides_are_seen_at_once(redis_store, auth_client, team):
    member = auth_client(team.member)
    assert _warm(member, team)["modules"]["calendar"] == "write"
    url = f"/api/v1/spaces/{team.space.id}/module-permissions"
    overrides = {"overrides": [{"role": "member", "module": "calendar", "level": "read"}]}
    assert auth_client(team.owner).put(url, overrides, format="json").status_code == 200
    assert _access(member, team).json()["modules"]["calendar"] == "read"
    cleared = auth_client(team.owner).put(url, {"overrides": []}, format="json")
    assert cleared.status_code == 200
    assert _access(member, team).json()["modules"]["calendar"] == "write"


def test_a_deleted_space_is_gone_at_once(redis_store, auth_client, team):
    member = auth_client(team.member)
    _warm(member, team)
    assert auth_client(team.owner).delete(f"/api/v1/spaces/{team.space.id}").status_code == 204
    assert _access(member, team).json()["code"] == "NOT_FOUND"


def test_an_accepted_invitation_gives_access_at_once(
    redis_store, auth_client, user_factory, team, mailoutbox
):
    guest = auth_client(user_factory(email="guest@example.com"))
    assert _warm(guest, team)["code"] == "NOT_FOUND"
    _warm(auth_client(team.member), team)  # the Space's answers are cached
    mailoutbox.clear()
    invited = auth_client(team.owner).post(
        f"/api/v1/spaces/{team.space.id}/invitations",
        {"email": "guest@example.com", "role": "member"},
        format="json",
    )
    assert invited.status_code == 201, invited.content
    token = re.search(r"token=([A-Za-z0-9_\-]+)", mailoutbox[-1].body).group(1)
    accepted = guest.post("/api/v1/invitations/accept", {"token": token}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert _access(guest, team).json()["role"] == "member"


def test_a_revoked_session_beats_a_cached_answer(redis_store, auth_client, team):
    member = auth_client(team.member)
    _warm(member, team)
    assert member.post("/api/v1/auth/logout").status_code == 204
    assert _access(member, team).json()["code"] == "SESSION_REVOKED"


def test_an_answer_cached_under_a_retired_version_is_not_served(redis_store, auth_client, team):
    """A reader that read the version before a change committed writes its entry late: the
    version replaced after the commit makes that entry dead."""
    from security import shared_state

    member = auth_client(team.member)
    _warm(member, team)
    stale_version = shared_state.get(space_access._version_key(team.space.id))
    auth_client(team.owner).patch(
        f"/api/v1/spaces/{team.space.id}/members/{team.member.id}", {"role": "admin"}, format="json"
    )
    stale = {**_access(member, team).json(), "role": "member"}
    shared_state.put(
        space_access._entry_key(team.space.id, team.member.id), [stale_version, stale], ttl=30
    )
    assert _access(member, team).json()["role"] == "admin"


def test_access_falls_back_to_the_database_when_redis_is_down(auth_client, team, settings):
    member = auth_client(team.member)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert (
        APIClient(HTTP_AUTHORIZATION=member._credentials["HTTP_AUTHORIZATION"])
        .get(f"/api/v1/spaces/{team.space.id}/access")
        .json()["role"]
        == "member"
    )


def test_a_change_fails_closed_when_redis_is_down(redis_store, auth_client, team, settings):
    owner = auth_client(team.owner)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = owner.patch(
        f"/api/v1/spaces/{team.space.id}/members/{team.member.id}", {"role": "admin"}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert team.space.memberships.get(user=team.member).role == "member"


def test_creating_a_space_or_a_membership_does_not_need_redis(
    auth_client, user_factory, settings, space_factory
):
    """Only members' answers are cached, so nothing needs retiring when one is created: sign-up
    (its personal Space) and a new Space work while the cache is unreachable."""
    store_select(settings, "redis")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    owner = user_factory()  # the personal Space and its membership
    assert Space.objects.filter(created_by=owner, type="personal").exists()
    space = space_factory(owner, members={user_factory(): "member"})
    assert space.memberships.count() == 2


def test_a_cached_answer_still_meets_the_tier_gate(
    redis_store, auth_client, user_factory, team, django_assert_num_queries
):
    """The cache holds the access, never a verdict: ``?module=`` is decided on every answer,
    a hit included, from the tier the entry holds (which a tier change retires)."""
    member = auth_client(team.member)
    _warm(member, team)
    url = f"/api/v1/spaces/{team.space.id}/access"
    with django_assert_num_queries(0):  # served from the cache, and still refused
        refused = member.get(url, {"module": "ai-agents"})
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "TIER_INSUFFICIENT"
    assert refused.json()["details"] == {
        "requiredTier": "alpha",
        "tier": "public",
        "module": "ai-agents",
    }
    with django_assert_num_queries(0):
        assert member.get(url, {"module": "notes"}).status_code == 200
    operator = auth_client(user_factory(role="admin"))
    response = operator.put(
        f"/api/v1/admin/spaces/{team.space.id}/tier", {"tier": "alpha"}, format="json"
    )
    assert response.status_code == 200, response.content
    opened = member.get(url, {"module": "ai-agents"})
    assert opened.status_code == 200 and opened.json()["modules"]["ai-agents"] == "write"


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_an_idle_session_is_refused_cached_or_not(settings, store, team):
    """ws1's one liveness rule holds in the access statement and in the cached "live until":
    a session unused for ``SESSION_IDLE_TTL_DAYS`` is refused even though its absolute expiry
    is weeks away, and even when its access was cached."""
    from datetime import timedelta

    from django.utils import timezone
    from freezegun import freeze_time

    from accounts.models import Session
    from accounts.sessions import access_token_mint

    store_select(settings, store)
    idle = timedelta(days=settings.SESSION_IDLE_TTL_DAYS)
    start = timezone.now().replace(microsecond=0)
    client = APIClient()
    with freeze_time(start):
        login_tokens(client, team.member)
    session = Session.objects.get(user=team.member)

    def bearer_at(moment):
        holder = APIClient()
        with freeze_time(moment):
            token = access_token_mint(user=team.member, session=session)
        holder.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return holder

    almost = start + idle - timedelta(minutes=2)
    with freeze_time(almost):
        warm = bearer_at(almost)
        for _ in range(3):  # with Redis: the version, then the entry and "live until"
            assert _access(warm, team).status_code == 200
    late = start + idle + timedelta(minutes=1)
    with freeze_time(late):
        response = _access(bearer_at(late), team)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "SESSION_REVOKED"
    store_select(settings, "postgres")
