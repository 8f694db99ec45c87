"""accounts.0005_user_email_key fills the key of existing accounts and stops, naming them, when
two existing accounts are one address under the new key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0004_api_key_legacy_hash"), ("spaces", "0001_initial")]
TARGET = [("accounts", "0005_user_email_key"), ("spaces", "0002_invitation_email_key")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def _old_models():
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(BEFORE)
    return state.apps.get_model("accounts", "User"), state.apps.get_model("spaces", "Invitation")


@pytest.fixture
def before_the_key(transactional_db):
    _migrate(BEFORE)
    try:
        yield _old_models()
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_migration_fills_every_key(before_the_key):
    OldUser, OldInvitation = before_the_key
    anna = OldUser.objects.create(email="Anna@Example.com", password="!")
    kelvin = OldUser.objects.create(email="\u212aai@example.com", password="!")  # Kelvin sign
    space_id = _space_for(anna.pk)
    OldInvitation.objects.create(
        space_id=space_id,
        email="Bob@Example.COM",
        token_hash="h" * 64,
        expires_at=datetime(2100, 1, 1, tzinfo=UTC),
    )

    _migrate(TARGET)

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email_key FROM accounts_user")
        keys = dict(cursor.fetchall())
        cursor.execute("SELECT email_key FROM spaces_invitation")
        assert cursor.fetchall() == [("bob@example.com",)]
    assert keys == {anna.pk: "anna@example.com", kelvin.pk: "kai@example.com"}


def test_colliding_accounts_stop_the_migration_and_are_named(before_the_key):
    OldUser, _ = before_the_key
    # Distinct under PostgreSQL's lower(), one address under case folding (ß → ss).
    first = OldUser.objects.create(email="STRASSE@example.com", password="!")
    second = OldUser.objects.create(email="straße@example.com", password="!")
    OldUser.objects.create(email="someone@example.com", password="!")

    with pytest.raises(RuntimeError) as failure:
        _migrate(TARGET)

    message = str(failure.value)
    assert "'strasse@example.com'" in message
    assert str(first.pk) in message and str(second.pk) in message
    assert "someone" not in message
    # Nothing was half-done: the column does not exist, the old index is still there.
    with connection.cursor() as cursor:
        columns = [
            c.name for c in connection.introspection.get_table_description(cursor, "accounts_user")
        ]
        assert "email_key" not in columns

    OldUser.objects.filter(pk=second.pk).delete()  # the operator settles it
    _migrate(TARGET)
    with connection.cursor() as cursor:
        cursor.execute("SELECT email_key FROM accounts_user ORDER BY email_key")
        assert [row[0] for row in cursor.fetchall()] == [
            "someone@example.com",
            "strasse@example.com",
        ]


def _space_for(user_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO spaces_space (id, name, slug, type, tier, created_by_id, metadata, "
            "created_at, updated_at) VALUES (gen_random_uuid(), 'S', 's-mig', 'team', 'public', "
            "%s, '{}', now(), now()) RETURNING id",
            [user_id],
        )
        return cursor.fetchone()[0]
