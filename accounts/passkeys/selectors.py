"""Reads for passkeys. A user's passkey by id goes through
``accounts.selectors.passkey_get_for_user`` (another user's id is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Passkey, User


def passkeys_for_user(*, user: User) -> QuerySet[Passkey]:
    return Passkey.objects.filter(user=user).order_by("created_at", "id")


def passkey_for_credential(*, credential_id_b64: str) -> Passkey | None:
    """The passkey with this credential id and its user, in one query."""
    return (
        Passkey.objects.select_related("user").filter(credential_id_b64=credential_id_b64).first()
    )


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
