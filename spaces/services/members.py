"""Members: changing a role, removing a member, leaving. The last owner stays."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    Conflict,
    Forbidden,
    ValidationFailed,
)
from security.models import EventType
from spaces import selectors
from spaces.exceptions import PersonalSpaceUndeletable
from spaces.models import (
    Membership,
    SpaceRole,
)
from spaces.services import credit_notices
from spaces.services.base import MANAGERS, membership_lock, role_require, space_event
from spaces.services.invitations import invitations_revoke_beyond


@transaction.atomic
def member_role_change(
    *, user: User, space_id: object, member_user_id: object, role: str, meta: RequestMeta
) -> Membership:
    actor = membership_lock(user=user, space_id=space_id)
    role_require(actor, *MANAGERS)
    space = actor.space
    target = selectors.target_membership_get(space=space, user_id=member_user_id)
    if role not in SpaceRole.values:
        raise ValidationFailed({"role": [f"Must be one of {', '.join(SpaceRole.values)}."]})
    if actor.role != SpaceRole.OWNER and SpaceRole.OWNER in (target.role, role):
        raise Forbidden("Only an owner can grant or change the owner role.")
    if target.role == role:
        return target
    if target.role == SpaceRole.OWNER and selectors.owner_count(space=space) <= 1:
        raise Conflict("The last owner cannot be demoted.")
    previous = target.role
    target.role = role
    target.save(update_fields=["role", "updated_at"])
    space_event(
        EventType.SPACE_MEMBER_ROLE_CHANGED,
        user=user,
        meta=meta,
        spaceId=space.id,
        memberId=target.user_id,
        previous=previous,
        role=role,
    )
    invitations_revoke_beyond(
        space_id=space.id,
        inviter_id=target.user_id,
        role=role,
        actor=user,
        meta=meta,
        reason="inviter_demoted",
    )
    return target


def _leave_checks(*, membership: Membership) -> None:
    if membership.space.is_personal:
        raise PersonalSpaceUndeletable()
    if membership.role == SpaceRole.OWNER and selectors.owner_count(space=membership.space) <= 1:
        raise Conflict("The last owner cannot leave; make someone else an owner first.")


@transaction.atomic
def member_remove(
    *, user: User, space_id: object, member_user_id: object, meta: RequestMeta
) -> None:
    actor = membership_lock(user=user, space_id=space_id)
    space = actor.space
    target = selectors.target_membership_get(space=space, user_id=member_user_id)
    if target.user_id == user.id:
        _leave_checks(membership=actor)
        target.delete()
        credit_notices.notify_member_removed(
            space=space, user_id=user.pk, role=target.role, reason="left"
        )
        space_event(EventType.SPACE_LEFT, user=user, meta=meta, spaceId=space.id)
        invitations_revoke_beyond(
            space_id=space.id,
            inviter_id=user.id,
            role=None,
            actor=user,
            meta=meta,
            reason="inviter_left",
        )
        return
    role_require(actor, *MANAGERS)
    if actor.role != SpaceRole.OWNER and target.role == SpaceRole.OWNER:
        raise Forbidden("Only an owner can remove an owner.")
    if target.role == SpaceRole.OWNER and selectors.owner_count(space=space) <= 1:
        raise Conflict("The last owner cannot be removed.")
    target.delete()
    credit_notices.notify_member_removed(
        space=space, user_id=target.user_id, role=target.role, reason="removed"
    )
    space_event(
        EventType.SPACE_MEMBER_REMOVED,
        user=user,
        meta=meta,
        spaceId=space.id,
        memberId=target.user_id,
        role=target.role,
    )
    invitations_revoke_beyond(
        space_id=space.id,
        inviter_id=target.user_id,
        role=None,
        actor=user,
        meta=meta,
        reason="inviter_removed",
    )


@transaction.atomic
def space_leave(*, user: User, space_id: object, meta: RequestMeta) -> None:
    membership = membership_lock(user=user, space_id=space_id)
    _leave_checks(membership=membership)
    membership.delete()
    credit_notices.notify_member_removed(
        space=membership.space, user_id=user.pk, role=membership.role, reason="left"
    )
    space_event(EventType.SPACE_LEFT, user=user, meta=meta, spaceId=membership.space.id)
    invitations_revoke_beyond(
        space_id=membership.space.id,
        inviter_id=user.id,
        role=None,
        actor=user,
        meta=meta,
        reason="inviter_left",
    )
