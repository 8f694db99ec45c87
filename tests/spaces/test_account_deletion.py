"""Account deletion takes the Spaces the user solely owns; co-owned Spaces stay."""

from __future__ import annotations

import pytest

from accounts.deletion import account_delete
from mana_auth.clientip import RequestMeta
from spaces.models import Membership, Space, SpaceRole
from spaces.services.spaces import spaces_delete_solely_owned
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_deleting_an_account_deletes_solely_owned_spaces(user_factory, space_factory):
    leaver = user_factory()
    friend = user_factory()
    personal = Space.objects.get(created_by=leaver, type="personal")
    solo = space_factory(leaver, name="Solo", members={friend: SpaceRole.ADMIN})
    shared = space_factory(leaver, name="Shared", members={friend: SpaceRole.OWNER})
    joined = space_factory(friend, name="Friend's", members={leaver: SpaceRole.MEMBER})
    account_delete(user=leaver, password=PASSWORD, meta=RequestMeta())
    remaining = set(Space.objects.values_list("id", flat=True))
    assert personal.id not in remaining
    assert solo.id not in remaining
    assert {shared.id, joined.id} <= remaining
    assert not Membership.objects.filter(user_id=leaver.id).exists()
    assert Membership.objects.get(space=shared, user=friend).role == SpaceRole.OWNER


def test_spaces_delete_solely_owned_reports_the_count(user_factory, space_factory):
    user = user_factory()
    space_factory(user, name="A")
    space_factory(user, name="B")
    assert spaces_delete_solely_owned(user=user) == 3
    assert not Space.objects.filter(created_by=user).exists()
