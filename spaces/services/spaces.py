"""Spaces themselves: the personal Space every account has, shared Spaces, their tiers, and
what the system does without an invitation (persona seeding, account deletion)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    Conflict,
    Forbidden,
    ValidationFailed,
)
from security.models import EventType
from security.services import security_event_record
from spaces import modules, selectors, slugs
from spaces.exceptions import InvalidSpaceType, PersonalSpaceUndeletable
from spaces.models import (
    PERSONAL_UNIQUE_CONSTRAINT,
    SLUG_UNIQUE_CONSTRAINT,
    Membership,
    Space,
    SpaceRole,
    SpaceType,
)
from spaces.services import credit_notices
from spaces.services.base import constraint_name, membership_lock, role_require, space_event
from spaces.services.invitations import invitations_revoke_beyond
from spaces.services.singletons import singletons_bootstrap_after_commit

METADATA_MAX_BYTES = 16 * 1024


def _insert_with_unique_slug(space: Space, candidates: Iterable[str], prefix: str) -> Space:
    """Save ``space`` under the first free candidate slug.

    Taken slugs are read once; a slug taken concurrently surfaces as a unique violation in a
    savepoint and the next candidate is tried (two sign-ups that both want ``anna`` end up as
    ``anna`` and ``anna-2``).
    """
    taken = set(Space.objects.filter(slug__startswith=prefix).values_list("slug", flat=True))
    for attempt, candidate in enumerate(candidates):
        if attempt > slugs.MAX_NUMBERED_SUFFIX + 50:
            break
        if candidate in taken:
            continue
        space.slug = candidate
        try:
            with transaction.atomic():
                space.save(force_insert=True)
            return space
        except IntegrityError as exc:
            if constraint_name(exc) != SLUG_UNIQUE_CONSTRAINT:
                raise
            taken.add(candidate)
    raise Conflict("No free slug could be found.")


def _slug_prefix(base: str) -> str:
    return base[: slugs.MAX_LENGTH - 4].rstrip("-") or base


@transaction.atomic
def personal_space_ensure(*, user: User) -> Space:
    """Create the user's personal Space if it does not exist (idempotent).

    Runs inside the registration transaction: a failure here aborts the sign-up, because a
    user without a personal Space is worse than a sign-up to retry.
    """
    existing = selectors.personal_space_for(user=user)
    if existing is None:
        base = slugs.base_slug_from_email(user.email)
        space = Space(
            name="Personal",
            type=SpaceType.PERSONAL,
            tier=user.access_tier,
            created_by=user,
            metadata={},
        )
        try:
            with transaction.atomic():
                existing = _insert_with_unique_slug(
                    space, slugs.slug_candidates(base), _slug_prefix(base)
                )
        except IntegrityError as exc:
            if constraint_name(exc) != PERSONAL_UNIQUE_CONSTRAINT:
                raise
            existing = selectors.personal_space_for(user=user)  # a concurrent call won
            if existing is None:
                raise
    Membership.objects.get_or_create(space=existing, user=user, defaults={"role": SpaceRole.OWNER})
    return existing


@transaction.atomic
def personal_space_tier_sync(*, user: User) -> Space:
    """Give the user's personal Space the user's current tier (call after changing it)."""
    space = personal_space_ensure(user=user)
    if space.tier != user.access_tier:
        space.tier = user.access_tier
        space.save(update_fields=["tier", "updated_at"])
    return space


def personal_spaces_backfill(*, dry_run: bool = False) -> int:
    """Create the missing personal Spaces of older accounts; returns how many were missing."""
    missing = User.objects.exclude(created_spaces__type=SpaceType.PERSONAL).order_by("created_at")
    count = 0
    for user in missing.iterator():
        count += 1
        if not dry_run:
            personal_space_ensure(user=user)
    return count


def _metadata_check(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ValidationFailed({"metadata": ["Must be an object."]})
    if len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        raise ValidationFailed({"metadata": ["Too large."]})
    return metadata


def _slug_check(slug: str) -> str:
    if not slugs.is_valid_slug(slug):
        raise ValidationFailed(
            {"slug": ["Use lower-case letters, digits and single hyphens (at most 63)."]}
        )
    if slugs.is_reserved(slug):
        raise ValidationFailed({"slug": ["This slug is reserved."]})
    return slug


@transaction.atomic
def space_create(
    *,
    user: User,
    name: str,
    type: str,
    slug: str | None = None,
    metadata: dict[str, Any] | None = None,
    meta: RequestMeta,
) -> Space:
    """Create a shared Space with the caller as its owner. ``personal`` is the system's."""
    if not modules.is_space_type(type) or type == SpaceType.PERSONAL:
        raise InvalidSpaceType()
    space = Space(
        name=name.strip(),
        type=type,
        tier=modules.tier_min(user.access_tier, "public"),
        created_by=user,
        metadata=_metadata_check(metadata or {}),
    )
    if slug:
        space.slug = _slug_check(slug)
        try:
            with transaction.atomic():
                space.save(force_insert=True)
        except IntegrityError as exc:
            if constraint_name(exc) == SLUG_UNIQUE_CONSTRAINT:
                raise Conflict("This slug is taken.") from exc
            raise
    else:
        base = slugs.slugify(name) or slugs.random_slug()
        _insert_with_unique_slug(space, slugs.slug_candidates(base), _slug_prefix(base))
    Membership.objects.create(space=space, user=user, role=SpaceRole.OWNER)
    credit_notices.notify_space_created(space=space, owner_id=user.pk)
    space_event(
        EventType.SPACE_CREATED, user=user, meta=meta, spaceId=space.id, spaceType=space.type
    )
    singletons_bootstrap_after_commit(
        space_ids=[str(space.id)], user_id=str(user.id), user_context=False
    )
    return space


@transaction.atomic
def space_update(*, user: User, space_id: object, data: dict[str, Any], meta: RequestMeta) -> Space:
    membership = membership_lock(user=user, space_id=space_id)
    role_require(membership, SpaceRole.OWNER)
    space = membership.space
    changed: list[str] = []
    if "name" in data and data["name"].strip() != space.name:
        space.name = data["name"].strip()
        changed.append("name")
    if "slug" in data and data["slug"] != space.slug:
        space.slug = _slug_check(data["slug"])
        changed.append("slug")
    if "metadata" in data and data["metadata"] != space.metadata:
        space.metadata = _metadata_check(data["metadata"])
        changed.append("metadata")
    if changed:
        try:
            with transaction.atomic():
                space.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            if constraint_name(exc) == SLUG_UNIQUE_CONSTRAINT:
                raise Conflict("This slug is taken.") from exc
            raise
        space_event(EventType.SPACE_UPDATED, user=user, meta=meta, spaceId=space.id, fields=changed)
    return space


@transaction.atomic
def space_delete(*, user: User, space_id: object, meta: RequestMeta) -> None:
    membership = membership_lock(user=user, space_id=space_id)
    space = membership.space
    if space.is_personal:
        raise PersonalSpaceUndeletable()
    role_require(membership, SpaceRole.OWNER)
    space_event(
        EventType.SPACE_DELETED, user=user, meta=meta, spaceId=space.id, spaceType=space.type
    )
    credit_notices.notify_space_deleted(space=space, user_id=user.pk, reason="deleted")
    space.delete()


@transaction.atomic
def space_tier_set(*, actor: User, space_id: object, tier: str, meta: RequestMeta) -> Space:
    """An operator sets a Space's tier (what its modules may open); a change is on the
    operator's trail as ``ADMIN_ACTION`` like every operator action."""
    if not actor.is_admin:
        raise Forbidden()
    space = selectors.space_get_any(space_id=space_id)
    previous = Space.objects.select_for_update().values_list("tier", flat=True).get(pk=space.pk)
    space = _space_tier_apply(space=space, tier=tier, user=actor, meta=meta)
    if previous != space.tier:
        security_event_record(
            type=EventType.ADMIN_ACTION,
            user=actor,
            meta=meta,
            metadata={
                "action": "space_tier_set",
                "spaceId": str(space.id),
                "from": previous,
                "to": space.tier,
            },
        )
    return space


@transaction.atomic
def space_tier_set_by_system(
    *, space: Space, tier: str, meta: RequestMeta | None, reason: str
) -> Space:
    """The system sets a Space's tier (persona seeding); audited with the reason."""
    return _space_tier_apply(space=space, tier=tier, user=None, meta=meta, reason=reason)


def _space_tier_apply(
    *, space: Space, tier: str, user: User | None, meta: RequestMeta | None, reason: str = ""
) -> Space:
    if tier not in modules.TIERS:
        raise ValidationFailed({"tier": [f"Must be one of {', '.join(modules.TIERS)}."]})
    space = Space.objects.select_for_update().get(pk=space.pk)
    previous = space.tier
    if previous != tier:
        space.tier = tier
        space.save(update_fields=["tier", "updated_at"])
        extra = {"reason": reason} if reason else {}
        space_event(
            EventType.TIER_CHANGED,
            user=user,
            meta=meta,
            spaceId=space.id,
            target="space",
            previous=previous,
            tier=tier,
            **extra,
        )
        credit_notices.notify_tier_changed(
            space=space,
            previous=previous,
            tier=tier,
            actor_id=user.pk if user is not None else None,
            owner_id=user.pk if user is not None else _an_owner_id(space),
        )
    return space


def _an_owner_id(space: Space) -> object:
    """The longest-standing owner (a shared Space always has one), else its creator."""
    owner = (
        Membership.objects.filter(space=space, role=SpaceRole.OWNER)
        .order_by("created_at", "id")
        .values_list("user_id", flat=True)
        .first()
    )
    return owner or space.created_by_id


@transaction.atomic
def membership_ensure_by_system(
    *, space: Space, user: User, role: str, meta: RequestMeta | None, reason: str
) -> bool:
    """Give ``user`` exactly ``role`` in ``space`` without an invitation. For the system acting
    (persona seeding: a persona can never answer an invitation mail), never for users, who
    invite. Returns whether anything changed; a change is audited with the reason."""
    if role not in SpaceRole.values:
        raise ValidationFailed({"role": [f"Must be one of {', '.join(SpaceRole.values)}."]})
    membership, created = Membership.objects.get_or_create(
        space=space, user=user, defaults={"role": role}
    )
    previous = None if created else membership.role
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    if created:
        credit_notices.notify_member_added(space=space, user_id=user.pk, role=role, via="system")
    if created or previous != role:
        space_event(
            EventType.SPACE_MEMBER_ROLE_CHANGED,
            user=user,
            meta=meta,
            spaceId=space.id,
            previous=previous,
            role=role,
            reason=reason,
        )
        invitations_revoke_beyond(
            space_id=space.id,
            inviter_id=user.id,
            role=role,
            actor=None,
            meta=meta,
            reason="inviter_demoted",
        )
        return True
    return False


ACCOUNT_DELETED = "account_deleted"
ADDRESS_CLAIMED = "address_claimed"
# Why the account's Spaces go -> (space.deleted reason, space.member_removed reason).
_REMOVAL_REASONS = {
    ACCOUNT_DELETED: ("owner_account_deleted", "account_deleted"),
    ADDRESS_CLAIMED: ("address_claimed", "address_claimed"),
}


@transaction.atomic
def spaces_delete_solely_owned(
    *, user: User, cause: str = ACCOUNT_DELETED, meta: RequestMeta | None = None
) -> int:
    """Delete the Spaces ``user`` is the only owner of, the personal one included, and take
    the user out of the Spaces that stay; the number of Spaces deleted.

    ``cause``: ``account_deleted`` (the memberships then go with the account row) or
    ``address_claimed`` (the account stays: each membership in a Space that stays is deleted
    here and recorded as ``SPACE_MEMBER_REMOVED`` with that reason). Either way mana-credits is
    told in this transaction: ``space.deleted`` for each pool that goes and
    ``space.member_removed`` for each seat the user leaves, with the cause as the reason.
    """
    space_reason, member_reason = _REMOVAL_REASONS[cause]
    owned = Membership.objects.filter(user=user, role=SpaceRole.OWNER).values_list(
        "space_id", flat=True
    )
    doomed = [
        space_id
        for space_id in owned
        if not Membership.objects.filter(space_id=space_id, role=SpaceRole.OWNER)
        .exclude(user=user)
        .exists()
    ]
    personal = selectors.personal_space_for(user=user)
    if personal is not None and personal.id not in doomed:
        doomed.append(personal.id)
    # mana-credits: the pools of the Spaces that go, and the user's seat in those that stay.
    for space in Space.objects.filter(id__in=doomed).order_by("created_at", "id"):
        credit_notices.notify_space_deleted(space=space, user_id=user.pk, reason=space_reason)
    staying = list(
        Membership.objects.filter(user=user)
        .exclude(space_id__in=doomed)
        .select_related("space")
        .order_by("created_at", "id")
    )
    if cause != ACCOUNT_DELETED and staying:
        # Like every membership change: the Space rows locked (in one order), so this seat's
        # removal is ordered with the Space's other changes.
        list(
            Space.objects.select_for_update()
            .filter(id__in=[m.space_id for m in staying])
            .order_by("id")
            .values_list("id", flat=True)
        )
    for membership in staying:
        credit_notices.notify_member_removed(
            space=membership.space, user_id=user.pk, role=membership.role, reason=member_reason
        )
        if cause != ACCOUNT_DELETED:
            membership.delete()
            space_event(
                EventType.SPACE_MEMBER_REMOVED,
                user=user,
                meta=meta,
                spaceId=membership.space_id,
                memberId=user.id,
                role=membership.role,
                reason=member_reason,
            )
    Space.objects.filter(id__in=doomed).delete()
    return len(doomed)
