"""seed_personas and cleanup_personas: dry runs write nothing, re-runs change nothing, drift
is reported, production refuses the development seed secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from accounts.models import User
from mana_auth import config
from mana_auth.clientip import RequestMeta
from personas.catalog import DEFAULT_CATALOG_PATH, catalog_load
from personas.crypto import persona_password
from personas.models import Persona
from personas.services import persona_seed_secret
from security.models import SecurityEvent
from spaces.models import Membership, Space

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot() -> dict[str, object]:
    """Every row the seed touches, with its last-change stamp."""
    return {
        "users": sorted(User.objects.values_list("id", "updated_at", "password", "access_tier")),
        "personas": sorted(Persona.objects.values_list("user_id", "updated_at")),
        "spaces": sorted(Space.objects.values_list("id", "updated_at", "tier", "name")),
        "memberships": sorted(Membership.objects.values_list("id", "updated_at", "role")),
        "events": SecurityEvent.objects.count(),
    }


def edited_catalog(tmp_path: Path, edit) -> Path:
    data = json.loads(DEFAULT_CATALOG_PATH.read_text())
    edit(data)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    return path


# --- seed_personas ----------------------------------------------------------------------------


def test_dry_run_on_an_empty_database_writes_nothing_and_says_what_it_would_do(mailoutbox):
    before = snapshot()

    out, _ = run("seed_personas", "--dry-run")

    assert snapshot() == before
    assert not User.objects.exists()
    assert out.count(": would be created") == 15  # ten personas, five shared Spaces
    assert "mia.student@mana.test: would be created" in out
    assert "persona-becker-family: would be created" in out
    assert "Dry run, nothing written" in out
    assert mailoutbox == []


def test_seed_creates_every_persona_and_their_shared_spaces(mailoutbox, api_client):
    out, _ = run("seed_personas")

    catalog = catalog_load()
    personas = User.objects.filter(kind="persona")
    assert personas.count() == 10 and Persona.objects.count() == 10
    assert set(personas.values_list("access_tier", flat=True)) == {"founder"}
    assert not personas.filter(email_verified_at__isnull=True).exists()
    for spec in catalog.personas:
        assert f"{spec.email}: created" in out
    for spec in catalog.spaces:
        space = Space.objects.get(slug=spec.slug)
        assert (space.type, space.name, space.tier) == (spec.type, spec.name, "founder")
        roles = dict(Membership.objects.filter(space=space).values_list("user__email", "role"))
        assert roles == {spec.members[0]: "owner", spec.members[1]: "member"}
        assert f"{spec.slug}: created" in out
    assert Space.objects.filter(type="personal", tier="founder").count() == 10
    assert mailoutbox == []
    # The runner signs in with the derived password.
    password = persona_password(email="kai.dev@mana.test", secret=settings.PERSONA_SEED_SECRET)
    login = api_client.post(
        "/api/v1/auth/login", {"email": "kai.dev@mana.test", "password": password}, format="json"
    )
    assert login.status_code == 200


def test_a_second_run_changes_nothing():
    run("seed_personas")
    before = snapshot()

    out, _ = run("seed_personas")

    assert snapshot() == before
    assert out.count(": unchanged") == 15
    assert "15 unchanged" in out


def test_a_changed_catalog_updates_in_place_and_dry_run_only_reports_it(tmp_path):
    run("seed_personas")
    path = edited_catalog(
        tmp_path,
        lambda d: (
            d["personas"][0].update(name="Mia H.", tickCadence="daily"),
            d["sharedSpaces"][0].update(name="Beckers"),
        ),
    )
    before = snapshot()

    dry, _ = run("seed_personas", "--dry-run", "--catalog", str(path))

    assert snapshot() == before
    assert "mia.student@mana.test: would be updated (name, tickCadence)" in dry
    assert "persona-becker-family: would be updated (name)" in dry

    out, _ = run("seed_personas", "--catalog", str(path))

    assert "mia.student@mana.test: updated (name, tickCadence)" in out
    assert "persona-becker-family: updated (name)" in out
    assert "leon.student@mana.test: unchanged" in out
    assert User.objects.get(email="mia.student@mana.test").name == "Mia H."
    assert Space.objects.get(slug="persona-becker-family").name == "Beckers"


def test_seed_repairs_a_removed_member_a_demoted_owner_and_a_lowered_space_tier():
    run("seed_personas")
    space = Space.objects.get(slug="persona-pixel-and-code")
    Membership.objects.filter(space=space, user__email="nora.freelance@mana.test").delete()
    Membership.objects.filter(space=space, user__email="kai.dev@mana.test").update(role="admin")
    Space.objects.filter(pk=space.pk).update(tier="public")

    out, _ = run("seed_personas")

    assert (
        "persona-pixel-and-code: updated "
        "(tier, owner kai.dev@mana.test, member nora.freelance@mana.test)"
    ) in out
    space.refresh_from_db()
    assert space.tier == "founder"
    roles = dict(Membership.objects.filter(space=space).values_list("user__email", "role"))
    assert roles == {"kai.dev@mana.test": "owner", "nora.freelance@mana.test": "member"}
    assert run("seed_personas")[0].count(": unchanged") == 15


def test_seed_refuses_a_catalog_address_that_belongs_to_a_human(user_factory):
    human = user_factory(email="paul.newbie@mana.test", name="Real Paul")

    with pytest.raises(CommandError, match="refused"):
        run("seed_personas")

    human.refresh_from_db()
    assert (human.kind, human.name, human.access_tier) == ("human", "Real Paul", "public")
    assert User.objects.filter(kind="persona").count() == 9
    # Paul owns the Hoffmann family Space in the catalog: it is refused, not given to a human.
    assert not Space.objects.filter(slug="persona-hoffmann-family").exists()


def test_seed_refuses_an_invalid_catalog_before_writing_anything(tmp_path):
    path = edited_catalog(tmp_path, lambda d: d["personas"][0].update(archetype="pirate"))

    with pytest.raises(CommandError, match=r"personas\[0\] .*unknown archetype 'pirate'"):
        run("seed_personas", "--catalog", str(path))

    assert not User.objects.exists()


# --- cleanup_personas -------------------------------------------------------------------------


def test_cleanup_dry_run_deletes_nothing(user_factory):
    run("seed_personas")
    user_factory(email="human@example.com")
    before = snapshot()

    out, err = run("cleanup_personas", "--dry-run")

    assert snapshot() == before
    assert out.count(": would be deleted") == 10
    assert "human@example.com" not in out
    assert err == ""  # no drift


def test_cleanup_hard_deletes_every_persona_and_leaves_humans(user_factory):
    run("seed_personas")
    human = user_factory(email="human@example.com")

    out, _ = run("cleanup_personas")

    assert not User.objects.filter(kind="persona").exists()
    assert not Persona.objects.exists()
    assert not Space.objects.filter(slug__startswith="persona-").exists()
    assert list(User.objects.values_list("id", flat=True)) == [human.id]
    assert Space.objects.filter(created_by=human).count() == 1
    assert out.count(": deleted") == 10
    assert SecurityEvent.objects.filter(type="PERSONA_DELETED").count() == 10
    again, _ = run("cleanup_personas")  # safe to re-run
    assert "0 persona account(s) deleted" in again


def test_cleanup_warns_when_the_live_set_drifted_from_the_catalog(admin_client):
    run("seed_personas")
    from personas.services import persona_delete

    stray = admin_client.post(
        "/api/v1/admin/personas",
        {
            "email": "stray@mana.test",
            "name": "Stray",
            "archetype": "freelancer",
            "systemPrompt": "A persona someone added by hand.",
            "moduleMix": {"todo": 1},
            "tickCadence": "weekly",
        },
        format="json",
    )
    assert stray.status_code == 201
    persona_delete(user_id=User.objects.get(email="tom.parent@mana.test").id, meta=RequestMeta())

    out, err = run("cleanup_personas", "--dry-run")

    assert "drift: stray@mana.test is live but not in the catalog" in err
    assert "drift: tom.parent@mana.test is in the catalog but not live" in err
    assert out.count(": would be deleted") == 10


# --- The seed secret --------------------------------------------------------------------------


def test_config_refuses_a_missing_or_development_persona_seed_secret():
    good = {
        "SECRET_KEY": "t9Vq2xLr8Kp4Zm7Nw1Bc6Hd3Jf5Gs0Ya-Qe8Ru2Ti4Wo6Pl1Mk3Nj5Bh7Vg9Cf",
        "MANA_AUTH_KEK": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
        "MANA_SERVICE_KEY": "k" * 40,
        "BASE_URL": "https://auth.mana.how",
        "DATABASE_URL": "postgres://x@y/z",
        "PERSONA_SEED_SECRET": "p" * 40,
        "COOKIE_DOMAIN": "mana.how",
    }
    assert config.production_problems(good) == []
    dev = {**good, "PERSONA_SEED_SECRET": config.DEV_PERSONA_SEED_SECRET}
    assert config.production_problems(dev) == [
        "PERSONA_SEED_SECRET must not be the development fallback value"
    ]
    missing = {key: value for key, value in good.items() if key != "PERSONA_SEED_SECRET"}
    assert config.production_problems(missing) == ["PERSONA_SEED_SECRET is required in production"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dev-persona-seed-secret", "PERSONA_SEED_SECRET must not be the development fallback"),
        ("", "PERSONA_SEED_SECRET is required in production"),
    ],
)
def test_a_production_boot_refuses_the_development_persona_seed_secret(value, message):
    base = {key: val for key, val in os.environ.items() if not key.startswith("MANA_")}
    base.pop("SECRET_KEY", None)
    base.pop("PERSONA_SEED_SECRET", None)
    env = {
        **base,
        "MANA_ENV": "production",
        "SECRET_KEY": "t9Vq2xLr8Kp4Zm7Nw1Bc6Hd3Jf5Gs0Ya-Qe8Ru2Ti4Wo6Pl1Mk3Nj5Bh7Vg9Cf",
        "MANA_AUTH_KEK": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
        "MANA_SERVICE_KEY": "k" * 40,
        "BASE_URL": "https://auth.mana.how",
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "PERSONA_SEED_SECRET": value,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_persona_passwords_are_never_derived_from_the_fallback_in_production(settings):
    settings.IS_PRODUCTION = True
    settings.PERSONA_SEED_SECRET = config.DEV_PERSONA_SEED_SECRET
    with pytest.raises(ImproperlyConfigured):
        persona_seed_secret()
    settings.PERSONA_SEED_SECRET = "a-private-value-" + "x" * 24
    assert persona_seed_secret().startswith("a-private-value-")
