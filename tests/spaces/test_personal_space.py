"""The personal Space: created with the account, slug rules, idempotency, the DB invariant."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from spaces import slugs
from spaces.models import Membership, Space, SpaceRole
from spaces.services import spaces as space_services
from tests.conftest import PASSWORD, register_through_api

pytestmark = pytest.mark.django_db


def _personal(user: User) -> Space:
    return Space.objects.get(created_by=user, type="personal")


def test_sign_up_creates_the_personal_space_with_the_user_as_owner(api_client):
    user = register_through_api(api_client, "Anna.Maria@example.com")
    space = _personal(user)
    assert space.slug == "anna-maria"
    assert space.tier == user.access_tier == "public"
    assert list(Membership.objects.filter(space=space).values_list("user_id", "role")) == [
        (user.id, SpaceRole.OWNER)
    ]


def test_personal_slug_skips_reserved_words(api_client):
    user = register_through_api(api_client, "admin@example.com")
    assert _personal(user).slug == "admin-2"
    assert _personal(register_through_api(api_client, "me@example.com")).slug == "me-2"


def test_personal_slug_collision_gets_numbered_suffix(api_client):
    first = register_through_api(api_client, "anna@a.com")
    second = register_through_api(api_client, "anna@b.com")
    third = register_through_api(api_client, "ANNA@c.com")
    assert [_personal(u).slug for u in (first, second, third)] == ["anna", "anna-2", "anna-3"]


def test_personal_slug_is_cut_to_thirty_characters(api_client):
    local = "averyveryverylongfirstname.andaverylonglastname"
    user = register_through_api(api_client, f"{local}@example.com")
    slug = _personal(user).slug
    assert slug == "averyveryverylongfirstname-and"
    assert len(slug) == 30
    again = register_through_api(api_client, f"{local}@other.com")
    assert _personal(again).slug == "averyveryverylongfirstname-a-2"
    assert len(_personal(again).slug) <= 30


def test_unusable_local_part_gets_a_random_slug(api_client):
    user = register_through_api(api_client, "___@example.com")
    slug = _personal(user).slug
    assert re.fullmatch(r"space-[0-9a-f]{8}", slug)


def test_accented_local_part_is_folded_to_ascii():
    assert slugs.base_slug_from_email("Jürgen.Groß@example.com") == "jurgen-gro"
    assert slugs.slugify("--a__b..c--") == "a-b-c"


def test_collision_candidates_run_to_999_then_random():
    candidates = slugs.slug_candidates("anna")
    first = [next(candidates) for _ in range(999)]
    assert first[:3] == ["anna", "anna-2", "anna-3"]
    assert first[-1] == "anna-999"
    assert re.fullmatch(r"anna-[0-9a-f]{6}", next(candidates))


def test_reserved_base_is_never_a_candidate():
    assert next(slugs.slug_candidates("api")) == "api-2"


def test_taken_numbered_slugs_are_skipped(user_factory):
    owner = user_factory(email="someone@example.com")
    for slug in ("bob", "bob-2", "bob-3"):
        Space.objects.create(name="x", slug=slug, type="team", created_by=owner)
    user = user_factory(email="bob@example.com")
    assert _personal(user).slug == "bob-4"


def test_personal_space_ensure_is_idempotent(user_factory):
    user = user_factory()
    first = space_services.personal_space_ensure(user=user)
    second = space_services.personal_space_ensure(user=user)
    assert first.id == second.id
    assert Space.objects.filter(created_by=user, type="personal").count() == 1
    assert Membership.objects.filter(user=user).count() == 1


def test_personal_space_ensure_repairs_a_missing_owner_membership(user_factory):
    user = user_factory()
    Membership.objects.filter(user=user).delete()
    space = space_services.personal_space_ensure(user=user)
    assert Membership.objects.get(space=space, user=user).role == SpaceRole.OWNER


def test_database_refuses_a_second_personal_space(user_factory):
    user = user_factory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.create(name="again", slug="again", type="personal", created_by=user)


def test_database_refuses_an_invalid_type_and_slug(user_factory):
    user = user_factory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.create(name="x", slug="valid", type="galaxy", created_by=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.create(name="x", slug="Not Valid", type="team", created_by=user)


def test_personal_space_inherits_the_users_tier(user_factory):
    user = user_factory()
    User.objects.filter(pk=user.pk).update(access_tier="founder")
    user.refresh_from_db()
    Space.objects.filter(created_by=user).delete()
    assert space_services.personal_space_ensure(user=user).tier == "founder"


def test_failed_personal_space_aborts_sign_up(api_client, monkeypatch):
    def broken(*, user):
        raise OperationalError("connection to server lost")

    monkeypatch.setattr(space_services, "personal_space_ensure", broken)
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "orphan@example.com", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert not User.objects.filter_email("orphan@example.com").exists()
    assert not SecurityEvent.objects.filter(type="REGISTER").exists()


def test_backfill_creates_missing_personal_spaces(user_factory, capsys):
    old = user_factory()
    fine = user_factory()
    Space.objects.filter(created_by=old).delete()
    call_command("backfill_personal_spaces", "--dry-run")
    assert "1 personal Space(s) would be created" in capsys.readouterr().out
    assert not Space.objects.filter(created_by=old).exists()
    call_command("backfill_personal_spaces")
    assert "1 personal Space(s) created" in capsys.readouterr().out
    assert _personal(old).tier == old.access_tier
    assert Membership.objects.get(user=old).role == SpaceRole.OWNER
    assert Space.objects.filter(created_by=fine).count() == 1
    call_command("backfill_personal_spaces")
    assert "0 personal Space(s) created" in capsys.readouterr().out


def test_personal_space_tier_sync_follows_the_users_tier(user_factory):
    user = user_factory()
    User.objects.filter(pk=user.pk).update(access_tier="alpha")
    user.refresh_from_db()
    space = space_services.personal_space_tier_sync(user=user)
    assert space.tier == "alpha"
    assert _personal(user).tier == "alpha"


def test_personal_space_tier_sync_leaves_shared_spaces_alone(user_factory, space_factory):
    user = user_factory()
    shared = space_factory(user)
    User.objects.filter(pk=user.pk).update(access_tier="founder")
    user.refresh_from_db()
    space_services.personal_space_tier_sync(user=user)
    shared.refresh_from_db()
    assert shared.tier == "public"
    assert _personal(user).tier == "founder"


def test_personal_space_tier_sync_creates_a_missing_personal_space(user_factory):
    user = user_factory()
    Space.objects.filter(created_by=user).delete()
    space_services.personal_space_tier_sync(user=user)
    assert _personal(user).tier == user.access_tier


def test_shared_space_slug_from_name_uses_collision_rules(user_factory):
    user = user_factory()
    meta = RequestMeta()
    first = space_services.space_create(user=user, name="Family Müller", type="family", meta=meta)
    second = space_services.space_create(user=user, name="Family Müller", type="family", meta=meta)
    assert (first.slug, second.slug) == ("family-muller", "family-muller-2")
