"""The scale seeding (bench/scale.py): COPY writes what sign-up and sign-in would, and the API
accepts it (a seeded session validates, a seeded user signs in, its Space answers)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import RefreshToken, Session, User
from accounts.sessions import access_token_mint
from bench import scale
from spaces.models import Membership, Space, SpaceRole, SpaceType

PASSWORD = "scale seeded password"
USERS = 50


@pytest.fixture
def seeded(db: Any) -> dict[str, Any]:
    return scale.seed(start=0, users=USERS, password=PASSWORD, batch=20)


def test_copy_seeds_users_spaces_memberships_sessions_and_refresh_tokens(seeded):
    assert seeded["users"] == USERS
    users = User.objects.filter(email__endswith="@" + scale.EMAIL_DOMAIN)
    assert users.count() == USERS
    assert users.filter(email_verified_at__isnull=False, is_active=True).count() == USERS
    user = users.get(email=f"scale-7@{scale.EMAIL_DOMAIN}")
    assert user.email_key == user.email
    space = Space.objects.get(created_by=user)
    assert space.type == SpaceType.PERSONAL
    assert Membership.objects.get(space=space).user_id == user.id
    assert Membership.objects.get(space=space).role == SpaceRole.OWNER
    assert Session.objects.filter(user__in=users, revoked_at__isnull=True).count() == 2 * USERS
    assert RefreshToken.objects.filter(session__user=user, used_at__isnull=True).count() == 2
    assert len({s.cookie_hash for s in Session.objects.filter(user__in=users)}) == 2 * USERS


def test_a_second_call_numbers_its_users_after_the_first(seeded):
    scale.seed(start=USERS, users=5, password=PASSWORD)
    assert User.objects.filter(email__endswith="@" + scale.EMAIL_DOMAIN).count() == USERS + 5
    assert User.objects.filter(email=f"scale-{USERS + 4}@{scale.EMAIL_DOMAIN}").exists()


def test_a_seeded_session_validates_and_reads_through_the_api(seeded):
    user = User.objects.get(email=f"scale-3@{scale.EMAIL_DOMAIN}")
    session = Session.objects.filter(user=user).first()
    token = access_token_mint(user=user, session=session)
    client = APIClient()
    response = client.post("/api/v1/auth/validate", {"token": token}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["valid"] is True
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/v1/auth/session")
    assert response.status_code == 200, response.content
    space = Space.objects.get(created_by=user)
    response = client.get(f"/api/v1/spaces/{space.id}/access")
    assert response.status_code == 200, response.content


def test_a_seeded_user_signs_in_with_the_shared_hash(seeded):
    email = f"scale-{USERS - 1}@{scale.EMAIL_DOMAIN}"
    response = APIClient().post(
        "/api/v1/auth/login", {"email": email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["accessToken"]


def test_a_not_null_column_without_a_value_stops_the_seed_by_name(db):
    with pytest.raises(SystemExit, match="email_key"):
        scale.table_for(User, {"id", "email", "password"}, now=None)


def test_copy_text_refuses_values_that_would_need_escaping():
    assert scale.text_value(None) == "\\N"
    assert scale.text_value(True) == "t"
    assert scale.text_value({"a": 1}) == '{"a":1}'
    with pytest.raises(ValueError):
        scale.text_value("tab\there")
