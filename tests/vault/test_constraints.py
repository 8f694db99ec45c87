"""The database keeps the vault consistent even when the code does not."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from tests.vault.conftest import zk_on

pytestmark = pytest.mark.django_db


def _update(sql: str, user_id: object) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE encryption_vaults SET {sql} WHERE user_id = %s", [user_id])


def _violates(sql: str, user_id: object) -> str:
    with pytest.raises(IntegrityError) as caught:
        _update(sql, user_id)
    return str(caught.value)


@pytest.fixture
def standard_vault(client_, init):
    init()
    return client_.user.pk


@pytest.fixture
def zk_vault(client_, init):
    init()
    zk_on(client_)
    return client_.user.pk


def test_has_wrap_rejects_a_vault_with_no_wrap_at_all(standard_vault):
    message = _violates("wrapped_mk = NULL, wrap_iv = NULL", standard_vault)
    assert "encryption_vaults_has_wrap" in message


def test_wrap_iv_pair_rejects_a_server_wrap_without_its_iv(standard_vault):
    message = _violates("wrap_iv = NULL", standard_vault)
    assert "encryption_vaults_wrap_iv_pair" in message


def test_wrap_iv_pair_rejects_a_recovery_wrap_without_its_iv(zk_vault):
    message = _violates("recovery_iv = NULL", zk_vault)
    assert "encryption_vaults_wrap_iv_pair" in message


def test_zk_consistency_rejects_a_server_wrap_while_zero_knowledge(zk_vault):
    message = _violates(
        "wrapped_mk = '\\x00'::bytea, wrap_iv = '\\x00'::bytea, kek_id = 'k'", zk_vault
    )
    assert "encryption_vaults_zk_consistency" in message


def test_zk_consistency_rejects_zero_knowledge_without_a_recovery_wrap(standard_vault):
    message = _violates("zero_knowledge = true", standard_vault)
    assert "encryption_vaults_zk_consistency" in message


def test_a_server_wrap_needs_its_kek_id(standard_vault):
    message = _violates("kek_id = ''", standard_vault)
    assert "encryption_vaults_wrap_kek_id" in message


def test_a_recovery_wrap_needs_its_timestamp(zk_vault):
    message = _violates("recovery_set_at = NULL", zk_vault)
    assert "encryption_vaults_recovery_set_at" in message


def test_a_vault_needs_an_existing_user(db):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO encryption_vaults (user_id, wrapped_mk, wrap_iv, format_version, kek_id,"
            " created_at, recovery_format_version, zero_knowledge) VALUES"
            " (gen_random_uuid(), '\\x00', '\\x00', 1, 'k', now(), 1, false)"
        )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE encryption_vault_audit SET status = 200",
        "UPDATE encryption_vault_audit SET ip_address = NULL",
        "DELETE FROM encryption_vault_audit",
    ],
)
def test_the_audit_trail_is_append_only(standard_vault, sql):
    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql + " WHERE user_id = %s", [standard_vault])
    assert "append-only" in str(caught.value)
