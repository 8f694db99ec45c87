"""The row-level-security scope every vault read and write runs in.

The policies on ``encryption_vaults`` and ``encryption_vault_audit`` admit a row only while
``app.current_user_id`` names its user. ``vault_scope`` opens a transaction and sets that value
with ``set_config(..., is_local => true)``, so it ends with the transaction and cannot leak to
the next request on a pooled connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

SETTING = "app.current_user_id"


def scope_user_id(user_id: object) -> str:
    """The canonical text of a user id; an empty or malformed id is refused before any SQL."""
    if user_id is None or str(user_id).strip() == "":
        raise ValueError("a vault scope needs a user id")
    try:
        return str(uuid.UUID(str(user_id)))
    except ValueError as exc:
        raise ValueError("a vault scope needs a UUID user id") from exc


def scope_set(user_id: object) -> None:
    """Point the policies at ``user_id`` until the current transaction ends."""
    value = scope_user_id(user_id)
    if not connection.in_atomic_block:
        raise RuntimeError("scope_set outside a transaction would not last one statement")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, value])


@contextmanager
def vault_scope(user_id: object) -> Iterator[None]:
    """Run the body in a transaction in which only ``user_id``'s vault rows exist.

    Nested inside an outer transaction (a savepoint), the previous scope is put back on the
    way out, so code after the block does not keep seeing this user's rows.
    """
    value = scope_user_id(user_id)
    nested = connection.in_atomic_block
    with transaction.atomic():
        previous = None
        with connection.cursor() as cursor:
            if nested:
                cursor.execute("SELECT current_setting(%s, true)", [SETTING])
                previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, value])
        yield
        if nested:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, previous or ""])
