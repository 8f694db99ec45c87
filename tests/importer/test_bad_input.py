"""Bad input gets a clear message, a non-zero exit, and changes nothing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError
from psycopg import sql

from accounts.models import User
from predecessor.models import ImportedRecord
from security.models import SecurityEvent
from spaces.models import Space
from tests.importer.conftest import SECRET, _name_prefix, _server_url, run_import

pytestmark = pytest.mark.django_db


def nothing_changed() -> None:
    assert not User.objects.exists()
    assert not Space.objects.exists()
    assert not ImportedRecord.objects.exists()
    assert not SecurityEvent.objects.exists()


def refused(*args, **kwargs) -> str:
    with pytest.raises(CommandError) as caught:
        run_import(*args, **kwargs)
    nothing_changed()
    return str(caught.value)


def test_an_unreachable_source_is_refused():
    message = refused("postgresql://postgres@127.0.0.1:1/nowhere", secrets=False, kek=False)
    assert message.startswith("cannot connect to the source database")


def test_a_source_that_is_not_a_url_is_refused():
    message = refused("not a database url", secrets=False, kek=False)
    assert "cannot connect to the source database" in message


def test_a_database_that_is_not_better_auths_is_refused():
    own = _server_url(settings.DATABASES["default"]["NAME"])  # this service's: no Better Auth
    message = refused(own, secrets=False, kek=False)
    assert "holds no Better Auth user and account tables" in message
    assert "not the predecessor's database?" in message


def test_a_missing_secret_is_refused_when_there_are_two_factor_rows(world):
    message = refused(world.db.url, secrets=False)
    assert "two-factor secret(s)" in message and "--source-secret-env" in message
    assert message.endswith("Nothing was changed.")


def test_a_wrong_secret_is_refused_without_showing_it(world, monkeypatch):
    monkeypatch.setenv("PRED_SECRET", "not-the-predecessors-secret-0123456789")
    monkeypatch.setenv("PRED_SECRETS", "2:also-wrong-0123456789abcdef0123456789")
    message = refused(world.db.url)
    assert "does not open the predecessor's two-factor secrets" in message
    assert "not-the-predecessors-secret" not in message and SECRET not in message


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_secret_variable_that_is_not_set_is_refused(world, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("PRED_SECRET", raising=False)
    else:
        monkeypatch.setenv("PRED_SECRET", value)
    assert refused(world.db.url) == "the environment variable PRED_SECRET is not set or empty"


def test_a_malformed_rotation_list_is_refused(world, monkeypatch):
    monkeypatch.setenv("PRED_SECRETS", "just-a-secret-without-version")
    assert refused(world.db.url).startswith("PRED_SECRETS: expected")


def test_a_wrong_kek_is_refused(world, monkeypatch):
    world.db.execute("DELETE FROM auth.encryption_vaults WHERE user_id = %s", [world["bob"].id])
    monkeypatch.setenv("PRED_KEK", base64.b64encode(os.urandom(32)).decode())
    message = refused(world.db.url)
    assert "vault wraps of the predecessor opens" in message and "--source-kek-env" in message


def test_a_malformed_kek_is_refused(world, monkeypatch):
    monkeypatch.setenv("PRED_KEK", "c2hvcnQ=")
    assert "must decode to exactly 32 bytes" in refused(world.db.url)


def test_a_batch_below_one_is_refused(world):
    assert refused(world.db.url, "--batch", "0") == "--batch must be at least 1"


def test_a_table_without_a_column_better_auth_writes_is_refused(world):
    world.db.execute('ALTER TABLE auth."twoFactor" DROP COLUMN "secret"')
    message = refused(world.db.url)
    assert message == (
        "table 'twoFactor' of the source has no 'secret' column: not a Better Auth schema "
        "this importer knows"
    )


def test_better_auth_tables_in_two_schemas_need_the_schema_named(world):
    world.db.execute(
        'CREATE TABLE public."user" (id text, email text, "emailVerified" boolean);'
        'CREATE TABLE public.account (id text, "userId" text, "providerId" text);'
    )
    message = refused(world.db.url)
    assert "several schemas (auth, public)" in message and "--source-schema" in message
    outcome = run_import(world.db.url, "--source-schema", "auth")
    assert User.objects.count() == 8 and "This run changed" in outcome.out


def test_a_named_schema_without_better_auth_tables_is_refused(world):
    message = refused(world.db.url, "--source-schema", "public")
    assert message.startswith("schema 'public' of the source holds no Better Auth")


def test_a_role_bound_by_the_vault_policies_is_refused(world):
    role = f"{_name_prefix()}reader_{uuid.uuid4().hex[:6]}"
    ident = sql.Identifier(role)
    admin = psycopg.connect(_server_url("postgres"), autocommit=True)
    try:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOBYPASSRLS").format(ident))
        world.db.conn.execute(sql.SQL("GRANT USAGE ON SCHEMA auth TO {}").format(ident))
        world.db.conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA auth TO {}").format(ident)
        )
        host = world.db.url.split("@", 1)[1]
        message = refused(f"postgresql://{role}@{host}")
        assert "encryption_vaults table is under row-level security" in message
        assert "BYPASSRLS" in message
    finally:
        world.db.conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
        admin.close()


def test_a_second_import_at_the_same_time_is_refused(world):
    from predecessor.importer import _ADVISORY_LOCK

    with psycopg.connect(_server_url(settings.DATABASES["default"]["NAME"])) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_LOCK])
        message = refused(world.db.url)
    assert message.startswith("another import_predecessor is running")


def test_the_command_exits_non_zero(world):
    """As an operator runs it: ``manage.py`` prints the reason and exits with status 1."""
    env = {**os.environ, "MANA_ENV": "test"}
    done = subprocess.run(
        [sys.executable, "manage.py", "import_predecessor", "--source", world.db.url],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "two-factor secret(s)" in done.stderr and "Nothing was changed." in done.stderr
    nothing_changed()
