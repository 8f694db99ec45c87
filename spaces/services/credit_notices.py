"""What Spaces tells mana-credits, which keeps one credit pool per shared Space (the
predecessor's guild pools): ``space.created``, ``space.deleted``, ``space.member_added``,
``space.member_removed`` and ``space.tier_changed``.

Each notice goes through accounts' outbox (``accounts.outbox.outbox_enqueue``): written in the
transaction of the change, posted after commit to ``{MANA_CREDITS_URL}/api/v1/internal/events``
with the service key, retried by ``flush_outbox``; nothing is queued while ``MANA_CREDITS_URL``
is unset. A Space's notices share the subject ``space:<id>``, so they arrive in the order they
happened. The personal Space is the account itself (``user.created`` / ``user.deleted``): it has
no pool and no notices. Payloads carry identifiers, roles and tiers only (``data`` of the
event; the envelope carries ``occurredAt``).
"""

from __future__ import annotations

from typing import Any

from accounts.models import OutboxEvent, OutboxTarget
from accounts.outbox import credits_configured, outbox_enqueue
from spaces.models import Space, SpaceType


def _enqueue(event: OutboxEvent, *, space_id: object, user_id: object, **data: Any) -> None:
    if not credits_configured():
        return
    outbox_enqueue(
        target=OutboxTarget.CREDITS,
        event=event,
        user_id=user_id,
        payload={"spaceId": str(space_id), **data},
        subject=f"space:{space_id}",
    )


def _pooled(space: Space) -> bool:
    return space.type != SpaceType.PERSONAL


def notify_space_created(*, space: Space, owner_id: object) -> None:
    if _pooled(space):
        _enqueue(
            OutboxEvent.SPACE_CREATED,
            space_id=space.pk,
            user_id=owner_id,
            ownerId=str(owner_id),
            spaceType=space.type,
            tier=space.tier,
        )


def notify_space_deleted(*, space: Space, user_id: object, reason: str) -> None:
    """``reason``: ``deleted`` (by an owner), ``owner_account_deleted`` or ``address_claimed``."""
    if _pooled(space):
        _enqueue(
            OutboxEvent.SPACE_DELETED,
            space_id=space.pk,
            user_id=user_id,
            userId=str(user_id),
            reason=reason,
        )


def notify_member_added(*, space: Space, user_id: object, role: str, via: str) -> None:
    """``via``: ``invitation`` or ``system`` (persona seeding)."""
    if _pooled(space):
        _enqueue(
            OutboxEvent.SPACE_MEMBER_ADDED,
            space_id=space.pk,
            user_id=user_id,
            userId=str(user_id),
            role=role,
            via=via,
        )


def notify_member_removed(*, space: Space, user_id: object, role: str, reason: str) -> None:
    """``reason``: ``removed`` (by an owner or admin), ``left``, ``account_deleted`` or
    ``address_claimed``."""
    if _pooled(space):
        _enqueue(
            OutboxEvent.SPACE_MEMBER_REMOVED,
            space_id=space.pk,
            user_id=user_id,
            userId=str(user_id),
            role=role,
            reason=reason,
        )


def notify_tier_changed(
    *, space: Space, previous: str, tier: str, actor_id: object | None, owner_id: object
) -> None:
    """``actor_id``: the operator, None when the system changed it (the notice is then filed
    under an owner of the Space)."""
    if _pooled(space):
        _enqueue(
            OutboxEvent.SPACE_TIER_CHANGED,
            space_id=space.pk,
            user_id=actor_id or owner_id,
            previousTier=previous,
            tier=tier,
            changedBy=str(actor_id) if actor_id else None,
        )
