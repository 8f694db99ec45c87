"""What every Spaces service uses: the caller's membership (locked), role checks, the audit
event, the name of a violated constraint."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError

from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    Forbidden,
    NotFound,
)
from security.models import EventType
from security.services import security_event_record
from spaces import selectors
from spaces.models import (
    Membership,
    Space,
    SpaceRole,
)

MANAGERS = (SpaceRole.OWNER, SpaceRole.ADMIN)


def constraint_name(exc: IntegrityError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        diag = getattr(cause, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name:
            return str(name)
        cause = cause.__cause__ or cause.__context__
    return ""


def role_require(membership: Membership, *roles: str) -> None:
    if membership.role not in roles:
        raise Forbidden("Your role in this Space does not allow this.")


def membership_require_manager(*, user: User, space_id: object) -> Membership:
    """The caller's membership, when their role may manage the Space (owner or admin)."""
    membership = selectors.membership_get(user=user, space_id=space_id)
    role_require(membership, *MANAGERS)
    return membership


def membership_lock(*, user: User, space_id: object) -> Membership:
    """The caller's membership, with the Space row locked: membership changes on one Space
    run one at a time, so "the last owner" is decided on a stable count."""
    membership = selectors.membership_get(user=user, space_id=space_id)
    space = Space.objects.select_for_update().get(pk=membership.space_id)
    locked = Membership.objects.filter(pk=membership.pk).first()  # re-read under the lock
    if locked is None:
        raise NotFound("No such Space.")
    locked.space = space
    return locked


def space_event(
    type: EventType, *, user: User | None, meta: RequestMeta | None, **metadata: Any
) -> None:
    security_event_record(
        type=type,
        user=user,
        meta=meta,
        metadata={
            key: (str(value) if key.endswith("Id") else value) for key, value in metadata.items()
        },
    )
