"""The write-hot tables carry only indexes a query uses (migrations accounts 0011, security
0007, spaces 0003), and every digest column keeps the unique index its lookups need."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

WRITE_HOT = (
    "accounts_refresh_token",
    "accounts_session",
    "accounts_one_time_token",
    "accounts_passkey",
    "security_login_attempt",
    "security_shared_counter",
    "security_shared_entry",
    "spaces_invitation",
)


def indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def test_no_pattern_ops_twin_on_a_write_hot_table() -> None:
    for table in WRITE_HOT:
        twins = [name for name, definition in indexes(table).items() if "pattern_ops" in definition]
        assert twins == [], table


def test_the_session_has_one_index_leading_with_its_user() -> None:
    on_user = [
        name for name, definition in indexes("accounts_session").items() if "(user_id" in definition
    ]
    assert on_user == ["accounts_session_user_idx"]


@pytest.mark.parametrize(
    "table, column",
    [
        ("accounts_refresh_token", "token_hash"),
        ("accounts_session", "cookie_hash"),
        ("accounts_one_time_token", "token_hash"),
        ("spaces_invitation", "token_hash"),
        ("security_shared_counter", "key"),
        ("security_shared_entry", "key"),
    ],
)
def test_every_digest_keeps_its_unique_index(table: str, column: str) -> None:
    unique = [
        definition
        for definition in indexes(table).values()
        if definition.startswith("CREATE UNIQUE INDEX") and definition.endswith(f"({column})")
    ]
    assert len(unique) == 1, (table, column)
