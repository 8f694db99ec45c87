"""``manage.py fuzz_seed``: the accounts a schemathesis run signs in as."""

from __future__ import annotations

import io
import json
import stat

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import User
from personas.fuzzing import POOLS
from spaces.models import Membership, SpaceRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(tmp_path):
    out = tmp_path / "targets.json"
    call_command("fuzz_seed", out=str(out), stdout=io.StringIO())
    return out, json.loads(out.read_text())


def test_seeded_accounts_are_signed_in_and_verified(seeded):
    _, targets = seeded
    accounts = targets["accounts"]

    for role in ("user", "admin", "other", "mfa", "passkey", "cookie", "zk", "keys"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {accounts[role]['token']}")
        session = client.get("/api/v1/auth/session")
        assert session.status_code == 200, role
        assert session.json()["user"]["email"] == accounts[role]["email"]
        assert session.json()["user"]["emailVerified"] is True
    assert User.objects.get(pk=accounts["admin"]["id"]).role == "admin"
    assert User.objects.get(pk=accounts["user"]["id"]).role == "user"
    cookie = APIClient()
    cookie.cookies["mana.session_token"] = accounts["cookie"]["cookie"]
    assert cookie.post("/api/v1/auth/session-to-token").status_code == 200


def test_seeded_accounts_sign_in_with_the_run_password(seeded):
    _, targets = seeded
    response = APIClient().post(
        "/api/v1/auth/login",
        {"email": targets["accounts"]["signin"]["email"], "password": targets["password"]},
        format="json",
    )
    assert response.status_code == 200


def test_pools_and_spaces_are_seeded(seeded):
    _, targets = seeded
    pools = targets["pools"]
    assert {name: len(pools[name]) for name in POOLS} == POOLS
    unverified = User.objects.filter(email__in=pools["unverified"])
    assert unverified.count() == POOLS["unverified"]
    assert not unverified.filter(email_verified_at__isnull=False).exists()
    user = targets["accounts"]["user"]["id"]
    members = Membership.objects.filter(space_id=targets["space"])
    assert members.get(user_id=user).role == SpaceRole.OWNER
    assert set(pools["members"]) | {targets["member"]} <= {str(m.user_id) for m in members}
    for space in pools["leaveSpaces"]:
        assert Membership.objects.get(space_id=space, user_id=user).role == SpaceRole.MEMBER


def test_each_run_gets_fresh_accounts_and_a_private_file(tmp_path, seeded):
    out, first = seeded
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    second_out = tmp_path / "second.json"
    call_command("fuzz_seed", out=str(second_out), stdout=io.StringIO())
    second = json.loads(second_out.read_text())
    assert second["run"] != first["run"]
    assert second["accounts"]["user"]["email"] != first["accounts"]["user"]["email"]


def test_fuzz_seed_is_refused_in_production(settings, tmp_path):
    settings.IS_PRODUCTION = True
    out = tmp_path / "targets.json"
    with pytest.raises(CommandError, match="never created in production"):
        call_command("fuzz_seed", out=str(out))
    assert not out.exists()
    assert not User.objects.filter(email__startswith="fuzz-").exists()
