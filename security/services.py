"""Writes for the security app: audit events, and clearing a lock."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from mana_auth.clientip import RequestMeta
from security import lockout
from security.models import EventType, SecurityEvent

_SECRET_MARKERS = ("password", "token", "secret", "key", "code", "hash")


def _assert_no_secrets(metadata: dict[str, Any]) -> None:
    for name in metadata:
        lowered = name.lower()
        if any(marker in lowered for marker in _SECRET_MARKERS) and not lowered.endswith(
            ("id", "ids", "count", "kind", "type", "prefix", "method")
        ):
            raise ValueError(f"security event metadata must not carry secrets ({name!r})")


def security_event_build(
    *,
    type: EventType | str,
    user: AbstractBaseUser | None,
    meta: RequestMeta | None = None,
    metadata: dict[str, Any] | None = None,
) -> SecurityEvent:
    """The audit row, checked (a type of the closed set, no secret-looking metadata) and not
    yet saved: for ``security_event_record``, and for a caller that writes it in the same
    statement as the change it records (``mana_auth.sqlbatch.insert_together``,
    ``security.attempts``)."""
    event_type = EventType(str(type))  # refuses a type outside the closed set
    payload = dict(metadata or {})
    _assert_no_secrets(payload)
    request_meta = meta or RequestMeta()
    return SecurityEvent(
        type=event_type.value,
        user=user,
        ip_address=request_meta.ip,
        user_agent=request_meta.user_agent,
        metadata=payload,
    )


def security_event_record(
    *,
    type: EventType | str,
    user: AbstractBaseUser | None,
    meta: RequestMeta | None = None,
    metadata: dict[str, Any] | None = None,
) -> SecurityEvent:
    """Append one audit row. Call inside the transaction of the change it records: if the
    write fails, the change fails with it (no silent audit gaps)."""
    event = security_event_build(type=type, user=user, meta=meta, metadata=metadata)
    event.save(force_insert=True)
    return event


def account_unlock(
    *,
    user: AbstractBaseUser,
    email_key: str,
    actor: AbstractBaseUser | None,
    meta: RequestMeta | None = None,
) -> int:
    """Clear the password lock and counters of ``user``, whose address has ``email_key``
    (``accounts.emails.email_key``), and record who did it."""
    with transaction.atomic():
        cleared = lockout.unlock(email_key=email_key)
        security_event_record(
            type=EventType.ACCOUNT_UNLOCKED,
            user=user,
            meta=meta,
            metadata={"byAdmin": actor is not None, "cleared": cleared},
        )
        if actor is not None:
            security_event_record(
                type=EventType.ADMIN_ACTION,
                user=actor,
                meta=meta,
                metadata={"action": "unlock", "targetUserId": str(user.id)},
            )
    return cleared
