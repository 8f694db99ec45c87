"""Writes for Spaces: personal Space provisioning, shared Spaces, members, invitations,
module overrides, credentials, tiers, and the sync-store singleton bootstrap.

Every write is atomic and records its security event in the same transaction. Who may do
what: owners everything; admins manage members and invitations below owner; members read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts import crypto as token_crypto
from accounts.emails import email_key, normalize_email
from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    AuthError,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    is_infrastructure_error,
)
from mana_auth.links import page_link
from mana_auth.mail import send_mail
from security import ratelimit
from security.models import EventType
from security.services import security_event_record
from spaces import modules, selectors, singletons, slugs
from spaces.models import (
    PERSONAL_UNIQUE_CONSTRAINT,
    SLUG_UNIQUE_CONSTRAINT,
    Invitation,
    Membership,
    ModulePermission,
    Space,
    SpaceCredential,
    SpaceRole,
    SpaceType,
)
from vault.crypto import associated_data
from vault.keyring import active_kek_id, open_sealed, reseal, seal

logger = logging.getLogger("mana_auth.spaces")

MANAGERS = (SpaceRole.OWNER, SpaceRole.ADMIN)
METADATA_MAX_BYTES = 16 * 1024
CREDENTIAL_VALUE_MAX_CHARS = 8192


# --- Helpers ----------------------------------------------------------------------------------


def _constraint_name(exc: IntegrityError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        diag = getattr(cause, "diag", None)
        name = getattr(diag, "constraint_name", None)
        if name:
            return str(name)
        cause = cause.__cause__ or cause.__context__
    return ""


def _require_role(membership: Membership, *roles: str) -> None:
    if membership.role not in roles:
        raise Forbidden("Your role in this Space does not allow this.")


def membership_require_manager(*, user: User, space_id: object) -> Membership:
    """The caller's membership, when their role may manage the Space (owner or admin)."""
    membership = selectors.membership_get(user=user, space_id=space_id)
    _require_role(membership, *MANAGERS)
    return membership


def _locked_membership(*, user: User, space_id: object) -> Membership:
    """The caller's membership, with the Space row locked: membership changes on one Space
    run one at a time, so "the last owner" is decided on a stable count."""
    membership = selectors.membership_get(user=user, space_id=space_id)
    space = Space.objects.select_for_update().get(pk=membership.space_id)
    locked = Membership.objects.filter(pk=membership.pk).first()  # re-read under the lock
    if locked is None:
        raise NotFound("No such Space.")
    locked.space = space
    return locked


def _event(
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
            if _constraint_name(exc) != SLUG_UNIQUE_CONSTRAINT:
                raise
            taken.add(candidate)
    raise Conflict("No free slug could be found.")


def _slug_prefix(base: str) -> str:
    return base[: slugs.MAX_LENGTH - 4].rstrip("-") or base


# --- Personal Space ---------------------------------------------------------------------------


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
            if _constraint_name(exc) != PERSONAL_UNIQUE_CONSTRAINT:
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


# --- Shared Spaces ----------------------------------------------------------------------------


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
        raise AuthError(code="INVALID_SPACE_TYPE")
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
            if _constraint_name(exc) == SLUG_UNIQUE_CONSTRAINT:
                raise Conflict("This slug is taken.") from exc
            raise
    else:
        base = slugs.slugify(name) or slugs.random_slug()
        _insert_with_unique_slug(space, slugs.slug_candidates(base), _slug_prefix(base))
    Membership.objects.create(space=space, user=user, role=SpaceRole.OWNER)
    _event(EventType.SPACE_CREATED, user=user, meta=meta, spaceId=space.id, spaceType=space.type)
    _after_commit_bootstrap(space_ids=[str(space.id)], user_id=str(user.id), user_context=False)
    return space


@transaction.atomic
def space_update(*, user: User, space_id: object, data: dict[str, Any], meta: RequestMeta) -> Space:
    membership = _locked_membership(user=user, space_id=space_id)
    _require_role(membership, SpaceRole.OWNER)
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
            if _constraint_name(exc) == SLUG_UNIQUE_CONSTRAINT:
                raise Conflict("This slug is taken.") from exc
            raise
        _event(EventType.SPACE_UPDATED, user=user, meta=meta, spaceId=space.id, fields=changed)
    return space


@transaction.atomic
def space_delete(*, user: User, space_id: object, meta: RequestMeta) -> None:
    membership = _locked_membership(user=user, space_id=space_id)
    space = membership.space
    if space.is_personal:
        raise AuthError(code="PERSONAL_SPACE_UNDELETABLE")
    _require_role(membership, SpaceRole.OWNER)
    _event(EventType.SPACE_DELETED, user=user, meta=meta, spaceId=space.id, spaceType=space.type)
    space.delete()


@transaction.atomic
def space_tier_set(*, actor: User, space_id: object, tier: str, meta: RequestMeta) -> Space:
    """An operator sets a Space's tier (what its modules may open)."""
    if not actor.is_admin:
        raise Forbidden()
    space = selectors.space_get_any(space_id=space_id)
    return _space_tier_apply(space=space, tier=tier, user=actor, meta=meta)


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
        _event(
            EventType.TIER_CHANGED,
            user=user,
            meta=meta,
            spaceId=space.id,
            target="space",
            previous=previous,
            tier=tier,
            **extra,
        )
    return space


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
    if created or previous != role:
        _event(
            EventType.SPACE_MEMBER_ROLE_CHANGED,
            user=user,
            meta=meta,
            spaceId=space.id,
            previous=previous,
            role=role,
            reason=reason,
        )
        _invitations_revoke_beyond(
            space_id=space.id,
            inviter_id=user.id,
            role=role,
            actor=None,
            meta=meta,
            reason="inviter_demoted",
        )
        return True
    return False


@transaction.atomic
def spaces_delete_solely_owned(*, user: User) -> int:
    """Delete the Spaces ``user`` is the only owner of (account deletion), the personal one
    included. Spaces with another owner stay; the user's memberships go with the user."""
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
    Space.objects.filter(id__in=doomed).delete()
    return len(doomed)


# --- Members ----------------------------------------------------------------------------------


def roles_invitable_by(role: str | None) -> frozenset[str]:
    """The roles a member with ``role`` may invite: owners any, admins below owner, members
    none. An invitation is only as good as its inviter's standing (see ``_open_invitation``)."""
    if role == SpaceRole.OWNER:
        return frozenset(SpaceRole.values)
    if role == SpaceRole.ADMIN:
        return frozenset({SpaceRole.ADMIN, SpaceRole.MEMBER})
    return frozenset()


def _pending_invitations(*, now: datetime) -> Any:
    return Invitation.objects.filter(
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
        expires_at__gt=now,
    )


def _invitations_revoke_beyond(
    *,
    space_id: object,
    inviter_id: object,
    role: str | None,
    actor: User | None,
    meta: RequestMeta | None,
    reason: str,
) -> int:
    """Revoke the pending invitations ``inviter_id`` sent in the Space that their ``role``
    (None: no longer a member) would not let them send now; one audit event each. Called
    wherever an inviter leaves, is removed or demoted, in the same transaction."""
    current = timezone.now()
    allowed = roles_invitable_by(role)
    stale = list(
        _pending_invitations(now=current)
        .select_for_update()
        .filter(space_id=space_id, invited_by_id=inviter_id)
        .exclude(role__in=allowed)
        .values_list("id", flat=True)
    )
    if stale:
        Invitation.objects.filter(id__in=stale).update(revoked_at=current)
    for invitation_id in stale:
        _event(
            EventType.SPACE_INVITATION_REVOKED,
            user=actor,
            meta=meta,
            spaceId=space_id,
            invitationId=invitation_id,
            reason=reason,
        )
    return len(stale)


def invitations_revoke_sent_by_deleted_user(*, user: User) -> int:
    """Account deletion: the pending invitations ``user`` sent in Spaces that stay go void
    (their ``invited_by`` is about to become NULL, and nobody would answer for them)."""
    space_ids = (
        _pending_invitations(now=timezone.now())
        .filter(invited_by=user)
        .values_list("space_id", flat=True)
        .distinct()
    )
    return sum(
        _invitations_revoke_beyond(
            space_id=space_id,
            inviter_id=user.id,
            role=None,
            actor=None,
            meta=None,
            reason="inviter_deleted",
        )
        for space_id in list(space_ids)
    )


@transaction.atomic
def member_role_change(
    *, user: User, space_id: object, member_user_id: object, role: str, meta: RequestMeta
) -> Membership:
    actor = _locked_membership(user=user, space_id=space_id)
    _require_role(actor, *MANAGERS)
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
    _event(
        EventType.SPACE_MEMBER_ROLE_CHANGED,
        user=user,
        meta=meta,
        spaceId=space.id,
        memberId=target.user_id,
        previous=previous,
        role=role,
    )
    _invitations_revoke_beyond(
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
        raise AuthError(code="PERSONAL_SPACE_UNDELETABLE")
    if membership.role == SpaceRole.OWNER and selectors.owner_count(space=membership.space) <= 1:
        raise Conflict("The last owner cannot leave; make someone else an owner first.")


@transaction.atomic
def member_remove(
    *, user: User, space_id: object, member_user_id: object, meta: RequestMeta
) -> None:
    actor = _locked_membership(user=user, space_id=space_id)
    space = actor.space
    target = selectors.target_membership_get(space=space, user_id=member_user_id)
    if target.user_id == user.id:
        _leave_checks(membership=actor)
        target.delete()
        _event(EventType.SPACE_LEFT, user=user, meta=meta, spaceId=space.id)
        _invitations_revoke_beyond(
            space_id=space.id,
            inviter_id=user.id,
            role=None,
            actor=user,
            meta=meta,
            reason="inviter_left",
        )
        return
    _require_role(actor, *MANAGERS)
    if actor.role != SpaceRole.OWNER and target.role == SpaceRole.OWNER:
        raise Forbidden("Only an owner can remove an owner.")
    if target.role == SpaceRole.OWNER and selectors.owner_count(space=space) <= 1:
        raise Conflict("The last owner cannot be removed.")
    target.delete()
    _event(
        EventType.SPACE_MEMBER_REMOVED,
        user=user,
        meta=meta,
        spaceId=space.id,
        memberId=target.user_id,
        role=target.role,
    )
    _invitations_revoke_beyond(
        space_id=space.id,
        inviter_id=target.user_id,
        role=None,
        actor=user,
        meta=meta,
        reason="inviter_removed",
    )


@transaction.atomic
def space_leave(*, user: User, space_id: object, meta: RequestMeta) -> None:
    membership = _locked_membership(user=user, space_id=space_id)
    _leave_checks(membership=membership)
    membership.delete()
    _event(EventType.SPACE_LEFT, user=user, meta=meta, spaceId=membership.space.id)
    _invitations_revoke_beyond(
        space_id=membership.space.id,
        inviter_id=user.id,
        role=None,
        actor=user,
        meta=meta,
        reason="inviter_left",
    )


# --- Invitations ------------------------------------------------------------------------------


def _invitation_ttl() -> timedelta:
    return timedelta(days=getattr(settings, "SPACE_INVITATION_TTL_DAYS", 7))


def _invitation_link(token: str) -> str:
    return page_link("/invitations/accept", token=token)


@transaction.atomic
def invitation_create(
    *,
    user: User,
    space_id: object,
    email: str,
    role: str,
    meta: RequestMeta,
    now: datetime | None = None,
) -> Invitation:
    """Invite an address; the mail carries a single-use token (only its hash is stored)."""
    current = now or timezone.now()
    actor = _locked_membership(user=user, space_id=space_id)
    _require_role(actor, *MANAGERS)
    space = actor.space
    if space.is_personal:
        raise Conflict("A personal Space has no other members.")
    if role not in SpaceRole.values:
        raise ValidationFailed({"role": [f"Must be one of {', '.join(SpaceRole.values)}."]})
    if role == SpaceRole.OWNER and actor.role != SpaceRole.OWNER:
        raise Forbidden("Only an owner can invite an owner.")
    ratelimit.hit(ratelimit.INVITE_SPACE, str(user.id))
    address = normalize_email(email)
    key = email_key(address)
    invitee = User.objects.filter_email(address).first()
    if invitee is not None and Membership.objects.filter(space=space, user=invitee).exists():
        raise Conflict("This person is already a member.")
    # A new invitation supersedes any still-open one for the same address.
    Invitation.objects.filter(
        space=space,
        email_key=key,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
    ).update(revoked_at=current)
    token = token_crypto.make_opaque_token("inv_")
    invitation = Invitation.objects.create(
        space=space,
        email=address,
        role=role,
        token_hash=token_crypto.hash_token(token),
        invited_by=user,
        created_at=current,
        expires_at=current + _invitation_ttl(),
    )
    _event(
        EventType.SPACE_INVITATION_SENT,
        user=user,
        meta=meta,
        spaceId=space.id,
        invitationId=invitation.id,
        role=role,
    )
    send_mail(
        to=address,
        name="space_invitation",
        locale=invitee.locale if invitee is not None else user.locale,
        kind=invitee.kind if invitee is not None else "human",
        context={
            # The name is the inviter's to choose; the address next to it is what we know.
            "inviter": user.name,
            "inviter_email": user.email,
            "space_name": space.name,
            "role": role,
            "link": _invitation_link(token),
            "days": _invitation_ttl().days,
        },
    )
    return invitation


@transaction.atomic
def invitation_revoke(
    *, user: User, space_id: object, invitation_id: object, meta: RequestMeta
) -> None:
    actor = _locked_membership(user=user, space_id=space_id)
    _require_role(actor, *MANAGERS)
    invitation = selectors.invitation_get(space=actor.space, invitation_id=invitation_id)
    if invitation.role == SpaceRole.OWNER and actor.role != SpaceRole.OWNER:
        raise Forbidden("Only an owner can revoke an owner invitation.")
    if invitation.status != "pending":
        raise Conflict("The invitation is no longer open.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    _event(
        EventType.SPACE_INVITATION_REVOKED,
        user=user,
        meta=meta,
        spaceId=actor.space.id,
        invitationId=invitation.id,
    )


def _open_invitation(*, user: User, token: str, now: datetime) -> Invitation:
    """The open invitation behind ``token``, locked, if it was sent to the caller's verified
    address. A link forwarded to someone else does nothing."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("space")
        .filter(token_hash=token_crypto.hash_token(token))
        .first()
    )
    if invitation is None or invitation.status_at(now) != "pending":
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    # Revoked when the inviter leaves, is removed or demoted; checked here as well, so that no
    # path that changes a membership can leave a live invitation its inviter could not send.
    inviter_role = (
        Membership.objects.filter(space_id=invitation.space_id, user_id=invitation.invited_by_id)
        .values_list("role", flat=True)
        .first()
        if invitation.invited_by_id is not None
        else None
    )
    if invitation.role not in roles_invitable_by(inviter_role):
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    if not token_crypto.tokens_equal(email_key(invitation.email), email_key(user.email)):
        raise Forbidden("This invitation was sent to a different address.")
    if not user.email_verified:
        raise AuthError(
            code="EMAIL_NOT_VERIFIED", message="Verify your email address to accept invitations."
        )
    return invitation


@transaction.atomic
def invitation_accept(
    *, user: User, token: str, meta: RequestMeta, now: datetime | None = None
) -> Membership:
    current = now or timezone.now()
    invitation = _open_invitation(user=user, token=token, now=current)
    invitation.accepted_at = current
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    membership, created = Membership.objects.get_or_create(
        space=invitation.space, user=user, defaults={"role": invitation.role}
    )
    _event(
        EventType.SPACE_INVITATION_ACCEPTED,
        user=user,
        meta=meta,
        spaceId=invitation.space_id,
        invitationId=invitation.id,
        role=membership.role,
        joined=created,
    )
    if created:
        _after_commit_bootstrap(
            space_ids=[str(invitation.space_id)], user_id=str(user.id), user_context=False
        )
    membership.space = invitation.space
    return membership


@transaction.atomic
def invitation_decline(
    *, user: User, token: str, meta: RequestMeta, now: datetime | None = None
) -> None:
    current = now or timezone.now()
    invitation = _open_invitation(user=user, token=token, now=current)
    invitation.declined_at = current
    invitation.save(update_fields=["declined_at"])
    _event(
        EventType.SPACE_INVITATION_DECLINED,
        user=user,
        meta=meta,
        spaceId=invitation.space_id,
        invitationId=invitation.id,
    )


# --- Module permissions -----------------------------------------------------------------------


@transaction.atomic
def module_permissions_set(
    *, user: User, space_id: object, overrides: list[dict[str, str]], meta: RequestMeta
) -> Space:
    """Replace the Space's overrides. An override only narrows a role's default level."""
    membership = _locked_membership(user=user, space_id=space_id)
    _require_role(membership, SpaceRole.OWNER)
    space = membership.space
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(overrides):
        role, module_id, level = item["role"], item["module"], item["level"]
        if role == SpaceRole.OWNER:
            errors[f"overrides.{index}.role"] = ["Owners cannot be restricted."]
        if module_id not in modules.MODULES:
            errors[f"overrides.{index}.module"] = ["Unknown module."]
        elif not modules.is_module_allowed(module_id, space.type):
            errors[f"overrides.{index}.module"] = ["Not available in this Space type."]
        if (role, module_id) in seen:
            errors[f"overrides.{index}"] = ["Duplicate role and module."]
        seen.add((role, module_id))
        if level not in modules.LEVELS:
            errors[f"overrides.{index}.level"] = ["Unknown level."]
    if errors:
        raise ValidationFailed(errors)
    ModulePermission.objects.filter(space=space).delete()
    ModulePermission.objects.bulk_create(
        ModulePermission(space=space, role=item["role"], module=item["module"], level=item["level"])
        for item in overrides
    )
    _event(
        EventType.SPACE_MODULE_PERMISSIONS_CHANGED,
        user=user,
        meta=meta,
        spaceId=space.id,
        count=len(overrides),
    )
    return space


# --- Credentials ------------------------------------------------------------------------------


def _credential_aad(space_id: object) -> bytes:
    return associated_data("space-credential", space_id)


@transaction.atomic
def credential_create(
    *,
    user: User,
    space_id: object,
    kind: str,
    name: str,
    value: str,
    meta: RequestMeta,
) -> SpaceCredential:
    """Store a secret for the Space's services, sealed under the KEK; never shown again."""
    membership = _locked_membership(user=user, space_id=space_id)
    _require_role(membership, SpaceRole.OWNER)
    space = membership.space
    sealed = seal(value.encode(), aad=_credential_aad(space.id))
    credential = SpaceCredential(
        space=space,
        kind=kind,
        name=name.strip(),
        ciphertext=sealed.ciphertext,
        iv=sealed.iv,
        kek_id=sealed.kek_id,
        created_by=user,
    )
    try:
        with transaction.atomic():
            credential.save(force_insert=True)
    except IntegrityError as exc:
        if _constraint_name(exc) == "spaces_credential_name_unique":
            raise Conflict("A credential with this name exists.") from exc
        raise
    _event(
        EventType.SPACE_CREDENTIAL_CREATED,
        user=user,
        meta=meta,
        spaceId=space.id,
        credentialId=credential.id,
        credentialKind=kind,
    )
    return credential


@transaction.atomic
def credential_delete(
    *, user: User, space_id: object, credential_id: object, meta: RequestMeta
) -> None:
    membership = _locked_membership(user=user, space_id=space_id)
    _require_role(membership, SpaceRole.OWNER)
    credential = selectors.credential_get(space=membership.space, credential_id=credential_id)
    _event(
        EventType.SPACE_CREDENTIAL_DELETED,
        user=user,
        meta=meta,
        spaceId=membership.space.id,
        credentialId=credential.id,
        credentialKind=credential.kind,
    )
    credential.delete()


@transaction.atomic
def credential_reveal(
    *, space_id: object, credential_id: object, meta: RequestMeta
) -> tuple[SpaceCredential, str]:
    """For another service (service key): the decrypted value, with an audit row."""
    space = selectors.space_get_any(space_id=space_id)
    credential = selectors.credential_get(space=space, credential_id=credential_id)
    value = open_sealed(
        ciphertext=bytes(credential.ciphertext),
        iv=bytes(credential.iv),
        kek_id=credential.kek_id,
        aad=_credential_aad(space.id),
    ).decode()
    _event(
        EventType.SPACE_CREDENTIAL_READ,
        user=None,
        meta=meta,
        spaceId=space.id,
        credentialId=credential.id,
        credentialKind=credential.kind,
    )
    return credential, value


def space_credentials_rewrap(batch_size: int = 100) -> tuple[int, int]:
    """Re-seal credentials still under a retired KEK with the active one (``rewrap_vaults``).

    Returns ``(rewrapped, total)``: how many were re-sealed, and how many credentials exist.
    Each batch is its own transaction with its rows locked; rows already under the active KEK
    are left alone, so an interrupted run can simply be run again.
    """
    active_id = active_kek_id()
    total = SpaceCredential.objects.count()
    stale = SpaceCredential.objects.exclude(kek_id=active_id).order_by("id")
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(stale.select_for_update(skip_locked=True)[:batch_size])
            for credential in batch:
                sealed = reseal(
                    ciphertext=bytes(credential.ciphertext),
                    iv=bytes(credential.iv),
                    kek_id=credential.kek_id,
                    aad=_credential_aad(credential.space_id),
                )
                SpaceCredential.objects.filter(id=credential.id).update(
                    ciphertext=sealed.ciphertext, iv=sealed.iv, kek_id=sealed.kek_id
                )
        if not batch:
            return rewrapped, total
        rewrapped += len(batch)


# --- Sync-store singletons --------------------------------------------------------------------


def _bootstrap_best_effort(*, user_id: str, space_ids: list[str], user_context: bool) -> None:
    """Insert singletons; a sync-store outage is logged and skipped (the boot-time endpoint
    reconciles later). Anything else is a bug and propagates."""
    try:
        if user_context:
            singletons.user_context_bootstrap(user_id=user_id)
        for space_id in space_ids:
            singletons.kontext_doc_bootstrap(space_id=space_id, writer_user_id=user_id)
    except DatabaseError as exc:
        if not is_infrastructure_error(exc):
            raise
        logger.error(
            "sync-store singleton bootstrap failed (%s); POST /me/bootstrap-singletons will "
            "reconcile",
            type(exc).__name__,
        )


def _after_commit_bootstrap(*, space_ids: list[str], user_id: str, user_context: bool) -> None:
    # After the main transaction commits: the sync store never holds rows for an account or
    # Space that was rolled back, and its failure cannot touch the committed sign-up.
    # ``robust``: an unexpected error is logged by Django instead of failing the response.
    transaction.on_commit(
        lambda: _bootstrap_best_effort(
            user_id=user_id, space_ids=space_ids, user_context=user_context
        ),
        robust=True,
    )


def sync_singletons_bootstrap_for_signup(*, user: User) -> None:
    """Insert the user's sync-store singletons; never aborts sign-up."""
    personal = selectors.personal_space_for(user=user)
    _after_commit_bootstrap(
        space_ids=[str(personal.id)] if personal is not None else [],
        user_id=str(user.id),
        user_context=True,
    )


def singletons_bootstrap_for_user(*, user: User) -> dict[str, Any]:
    """Reconcile the caller's singletons now: their ``userContext`` and the ``kontextDoc`` of
    every Space they belong to. Reports what was inserted (false = already there)."""
    try:
        user_context = singletons.user_context_bootstrap(user_id=str(user.id))
    except DatabaseError as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise
    spaces: dict[str, bool] = {}
    ok = True
    space_ids = Membership.objects.filter(user=user).order_by("created_at")
    for space_id in space_ids.values_list("space_id", flat=True):
        try:
            spaces[str(space_id)] = singletons.kontext_doc_bootstrap(
                space_id=str(space_id), writer_user_id=str(user.id)
            )
        except DatabaseError as exc:
            if not is_infrastructure_error(exc):
                raise
            logger.error("kontextDoc bootstrap failed for a Space: %s", type(exc).__name__)
            spaces[str(space_id)] = False
            ok = False
    return {"ok": ok, "bootstrapped": {"userContext": user_context, "spaces": spaces}}
