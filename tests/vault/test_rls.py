"""Row-level security: the policies bind every role that is not a superuser, owner included.

The test suite connects as a superuser, which PostgreSQL exempts from row security. These tests
therefore switch to ordinary roles: a separate psycopg connection logging in as one, and the
test's own connection under ``SET ROLE`` to run the real services and endpoints.
"""

from __future__ import annotations

import base64
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from psycopg import errors as pg_errors

from accounts.models import User
from tests.vault.conftest import BASE, RECOVERY, b64d, grant_table_access
from vault.models import Vault, VaultAudit
from vault.rls import vault_scope

# --- A separate login as a non-superuser, non-owner role ---------------------------------------


@pytest.fixture
def login_role(transactional_db):
    """A LOGIN role with plain table privileges (committed, so another connection can use it)."""
    name = f"mana_rls_vault_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS")
        grant_table_access(cursor, name)
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {name}")
        cursor.execute(f"DROP ROLE {name}")


def _connect(role: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=role,
    )


def _seed(email: str) -> User:
    """A bare user with a vault and two audit rows (and nothing else that references it)."""
    user = User.objects.create_user(email=email, password=None)
    with vault_scope(user.pk):
        Vault.objects.create(user_id=user.pk, wrapped_mk=b"w" * 48, wrap_iv=b"i" * 12, kek_id="k")
        for action in ("init", "fetch"):
            VaultAudit.objects.create(user_id=user.pk, action=action, status=200)
    return user


def _scope(cursor: psycopg.Cursor, user_id: object) -> None:
    cursor.execute("SELECT set_config('app.current_user_id', %s, true)", [str(user_id)])


def _vault_owners(cursor: psycopg.Cursor) -> list[uuid.UUID]:
    cursor.execute("SELECT user_id FROM encryption_vaults ORDER BY user_id")
    return [row[0] for row in cursor.fetchall()]


def _audit_owners(cursor: psycopg.Cursor) -> set[uuid.UUID]:
    cursor.execute("SELECT user_id FROM encryption_vault_audit")
    return {row[0] for row in cursor.fetchall()}


def test_an_ordinary_role_sees_only_the_scoped_users_rows(login_role):
    alice, bob = _seed("alice@example.com"), _seed("bob@example.com")

    with _connect(login_role) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'encryption_vaults'")
        assert cursor.fetchone()[0] != login_role

        # No user set: nothing exists.
        assert _vault_owners(cursor) == []
        assert _audit_owners(cursor) == set()

        # Set to Alice: Alice's rows only.
        _scope(cursor, alice.pk)
        assert _vault_owners(cursor) == [alice.pk]
        assert _audit_owners(cursor) == {alice.pk}
        cursor.execute(
            "UPDATE encryption_vaults SET format_version = 2 WHERE user_id = %s", [bob.pk]
        )
        assert cursor.rowcount == 0
        cursor.execute("DELETE FROM encryption_vaults WHERE user_id = %s", [bob.pk])
        assert cursor.rowcount == 0
        conn.commit()

        # The scope ended with the transaction: nothing again (and '' is not a cast error).
        assert _vault_owners(cursor) == []
        conn.commit()

        # Scoped to Alice, a row for Bob cannot be written.
        _scope(cursor, alice.pk)
        with pytest.raises(pg_errors.InsufficientPrivilege):
            cursor.execute(
                "INSERT INTO encryption_vault_audit (user_id, action, status, user_agent,"
                " context, created_at) VALUES (%s, 'fetch', 200, '', '{}', now())",
                [bob.pk],
            )
        conn.rollback()

    with vault_scope(bob.pk):
        assert Vault.objects.get(user_id=bob.pk).format_version == 1


def test_deleting_a_user_as_an_ordinary_role_removes_their_vault_rows(login_role):
    alice, bob = _seed("alice@example.com"), _seed("bob@example.com")

    with _connect(login_role) as conn, conn.cursor() as cursor:
        # No scope is set: the cascade is a referential action, exempt from row security.
        cursor.execute("DELETE FROM accounts_user WHERE id = %s", [alice.pk])
        assert cursor.rowcount == 1
        conn.commit()

    with connection.cursor() as cursor:
        cursor.execute("SELECT user_id FROM encryption_vaults")
        assert [row[0] for row in cursor.fetchall()] == [bob.pk]
        cursor.execute("SELECT DISTINCT user_id FROM encryption_vault_audit")
        assert [row[0] for row in cursor.fetchall()] == [bob.pk]


# --- The real services under SET ROLE (non-owner, and owner with FORCE) ------------------------


@pytest.mark.django_db
def test_the_vault_works_end_to_end_under_row_level_security(app_role, auth_client, settings):
    alice, bob = auth_client(), auth_client()
    app_role.enter()
    assert app_role.current() == app_role.name

    alice_key = b64d(alice.post(BASE + "init").json()["masterKey"])
    bob_key = b64d(bob.post(BASE + "init").json()["masterKey"])
    assert b64d(alice.get(BASE + "key").json()["masterKey"]) == alice_key
    assert b64d(bob.get(BASE + "key").json()["masterKey"]) == bob_key

    # Outside any scope the application itself sees no vault rows.
    assert Vault.objects.count() == 0
    assert VaultAudit.objects.count() == 0
    with vault_scope(alice.user.pk):
        assert list(Vault.objects.values_list("user_id", flat=True)) == [alice.user.pk]

    assert alice.post(BASE + "recovery-wrap", RECOVERY, format="json").status_code == 200
    assert alice.post(BASE + "zero-knowledge", {"enable": True}, format="json").status_code == 200
    assert alice.get(BASE + "status").json()["zeroKnowledge"] is True
    assert alice.get(BASE + "key").json()["requiresRecoveryCode"] is True
    assert alice.post(BASE + "rotate", {}, format="json").json()["code"] == "ZK_ROTATE_FORBIDDEN"
    off = alice.post(
        BASE + "zero-knowledge",
        {"enable": False, "masterKey": base64.b64encode(alice_key).decode()},
        format="json",
    )
    assert off.status_code == 200
    assert b64d(alice.get(BASE + "key").json()["masterKey"]) == alice_key
    assert b64d(bob.post(BASE + "rotate", {}, format="json").json()["masterKey"]) != bob_key

    # Account deletion needs no scope: the database cascade removes the rows.
    deleted = bob.delete("/api/v1/auth/account", {"password": bob.user.raw_password}, format="json")
    assert deleted.status_code == 204
    app_role.leave()
    assert not Vault.objects.filter(user_id=bob.user.pk).exists()
    assert not VaultAudit.objects.filter(user_id=bob.user.pk).exists()
    assert Vault.objects.filter(user_id=alice.user.pk).exists()


@pytest.mark.django_db
def test_rewrap_vaults_reaches_every_row_under_row_level_security(app_role, auth_client, settings):
    clients = [auth_client() for _ in range(3)]
    keys = [b64d(client.post(BASE + "init").json()["masterKey"]) for client in clients]
    old_kek = settings.MANA_AUTH_KEK
    settings.MANA_AUTH_KEK = b"\x01" * 32
    settings.MANA_AUTH_KEKS_RETIRED = [old_kek]

    app_role.enter()
    call_command("rewrap_vaults", "--kind", "vault_master_keys", "--batch-size", "2")
    app_role.leave()

    settings.MANA_AUTH_KEKS_RETIRED = []
    for client, key in zip(clients, keys, strict=True):
        assert b64d(client.get(BASE + "key").json()["masterKey"]) == key


def test_an_empty_user_id_is_refused_before_any_sql(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        for bad in ("", None, "  ", "not-a-uuid"):
            with pytest.raises(ValueError), vault_scope(bad):
                pass
