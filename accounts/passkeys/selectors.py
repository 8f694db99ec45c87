"""Reads for passkeys. A user's passkey by id goes through
``accounts.selectors.passkey_get_for_user`` (another user's id is a 404)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Passkey, User


def passkeys_for_user(*, user: User) -> QuerySet[Passkey]:
    return Passkey.objects.filter(user=user).order_by("created_at", "id")


_PASSKEY_FIELDS = [field.attname for field in Passkey._meta.concrete_fields]
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
# Precompiled (a sign-in's hot path): the ORM spent longer building this join, with its
# ORDER BY for ``first()``, than PostgreSQL spent answering it. Names come from the models.
_PASSKEY_USER_SELECT = (
    "SELECT "  # noqa: S608
    + ", ".join(f'p."{f.column}"' for f in Passkey._meta.concrete_fields)
    + ", "
    + ", ".join(f'u."{f.column}"' for f in User._meta.concrete_fields)
    + " FROM accounts_passkey p JOIN accounts_user u ON u.id = p.user_id"
    + " WHERE p.credential_id_b64 = %s"
)


def passkey_for_credential(*, credential_id_b64: str) -> Passkey | None:
    """The passkey with this credential id and its user, in one query (the id is unique)."""
    with connection.cursor() as cursor:
        cursor.execute(_PASSKEY_USER_SELECT, [credential_id_b64])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_PASSKEY_FIELDS)
    passkey = Passkey.from_db("default", _PASSKEY_FIELDS, row[:split])
    passkey.user = User.from_db("default", _USER_FIELDS, row[split:])
    return passkey


def passkey_descriptors_for_email(*, email_key: str) -> list[tuple[str, bytes, list[str]]]:
    """``(user_id, credential_id, transports)`` of an active account's passkeys, one query.

    An unknown address and an account without passkeys both give ``[]``.
    """
    rows = (
        Passkey.objects.filter(user__email_key=email_key, user__is_active=True)
        .order_by("created_at", "id")
        .values_list("user_id", "credential_id", "transports")
    )
    return [(str(uid), bytes(cid), list(transports or [])) for uid, cid, transports in rows]
